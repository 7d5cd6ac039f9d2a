"""Chunked media upload (initialize, append, finalize, status) and the sandbox's media files."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from sandbox.problems import x_invalid_request
from sandbox.x_media import CHECK_AFTER_SECS, MediaUpload, media_bytes
from sandbox.x_routes import author_of, bearer_of, state_of

router = APIRouter()

EXPIRES_AFTER_SECS = 86_400


class InitializeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    media_type: str
    total_bytes: int | None = Field(default=None, ge=0)
    media_category: str | None = None


def _status_document(upload: MediaUpload) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": upload.id,
        "media_key": upload.media_key,
        "size": len(upload.data),
        "expires_after_secs": EXPIRES_AFTER_SECS,
    }
    info: dict[str, Any] = {"state": upload.state}
    if upload.state in ("pending", "in_progress"):
        info["check_after_secs"] = CHECK_AFTER_SECS
        info["progress_percent"] = 50 if upload.state == "in_progress" else 0
    else:
        info["progress_percent"] = 100
    data["processing_info"] = info
    return {"data": data}


@router.post("/2/media/upload/initialize")
async def initialize(body: InitializeBody, request: Request) -> dict[str, Any]:
    owner = author_of(request)
    state = state_of(request)
    async with state.changes():
        upload = state.x.start_upload(owner, body.media_type, body.total_bytes)
    data = {
        "id": upload.id,
        "media_key": upload.media_key,
        "expires_after_secs": EXPIRES_AFTER_SECS,
    }
    return {"data": data}


@router.post("/2/media/upload/{media_id}/append")
async def append(media_id: str, request: Request) -> dict[str, Any]:
    author_of(request)
    segment_index, chunk = await _read_segment(request)
    if not 0 <= segment_index <= 999:
        raise x_invalid_request(
            "segment_index must be between 0 and 999.", parameter="segment_index"
        )
    state = state_of(request)
    async with state.changes():
        state.x.append(media_id, segment_index, chunk)
    return {"data": {"expires_at": 0}}


async def _read_segment(request: Request) -> tuple[int, bytes]:
    """The segment comes as multipart form data (file or base64 field) or as JSON."""
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            media = form.get("media")
            chunk = (
                await media.read()
                if isinstance(media, UploadFile)
                else base64.b64decode(str(media))
            )
            return int(str(form.get("segment_index"))), chunk
        body = await request.json()
        return int(body["segment_index"]), base64.b64decode(body["media"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise x_invalid_request(
            "An append needs `media` (file or base64) and `segment_index`.", parameter="media"
        ) from None


@router.post("/2/media/upload/{media_id}/finalize")
async def finalize(media_id: str, request: Request) -> dict[str, Any]:
    author_of(request)
    state = state_of(request)
    async with state.changes():
        upload = state.x.finalize(media_id)
    return _status_document(upload)


@router.get("/2/media/upload")
async def status(request: Request, media_id: str, command: str = "STATUS") -> dict[str, Any]:
    bearer_of(request)
    if command != "STATUS":
        raise x_invalid_request("Only command=STATUS is supported.", parameter="command")
    state = state_of(request)
    async with state.changes():
        upload = state.x.poll_status(media_id)
    return _status_document(upload)


@router.get("/sandbox/media/{name}")
async def media_file(name: str) -> Response:
    """Deterministic bytes for a named file; a name containing ``fail`` fails processing."""
    media_type = "image/png" if not name.endswith((".mp4", ".gif")) else "video/mp4"
    return Response(media_bytes(name), media_type=media_type)
