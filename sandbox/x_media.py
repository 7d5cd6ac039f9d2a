"""The sandbox's chunked media uploads: initialize, append, finalize, then status polls
until processing ends. Part of the X world (``XWorld`` mixes it in); no HTTP here."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sandbox.problems import x_invalid_request, x_not_found

if TYPE_CHECKING:  # x_world mixes this module in, so it cannot be imported at run time
    from sandbox.x_world import XUser

# Media processing answers "in progress" for this many status polls before it finishes.
MEDIA_POLLS_TO_FINISH = 2
CHECK_AFTER_SECS = 1
MEDIA_HEADER = b"SANDBOX-MEDIA:"

MEDIA_ID_BASE = 1_800_000_000_000_000_000


def media_bytes(name: str, size: int = 4096) -> bytes:
    """Deterministic content for a named media file; the name rides in the first line."""
    header = MEDIA_HEADER + name.encode() + b"\n"
    filler = hashlib.sha256(name.encode()).digest()
    body = (filler * (size // len(filler) + 1))[: max(size - len(header), 0)]
    return header + body


@dataclass
class MediaUpload:
    id: str
    owner_id: str
    media_type: str
    total_bytes: int | None
    chunks: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    status_polls: int = 0
    state: str = "pending"  # pending | in_progress | succeeded | failed

    @property
    def media_key(self) -> str:
        return f"3_{self.id}"

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks[index] for index in sorted(self.chunks))


class MediaUploads:
    """The upload rules; the world that mixes this in owns ``media``, ``_media_seq`` and
    ``dirty`` (what the state file must save)."""

    media: dict[str, MediaUpload]
    _media_seq: itertools.count[int]
    dirty: set[tuple[str, str]]

    def start_upload(self, owner: XUser, media_type: str, total_bytes: int | None) -> MediaUpload:
        media_id = str(MEDIA_ID_BASE + next(self._media_seq))
        upload = MediaUpload(
            id=media_id, owner_id=owner.id, media_type=media_type, total_bytes=total_bytes
        )
        self.media[media_id] = upload
        self.dirty.add(("media", media_id))
        return upload

    def upload_of(self, media_id: str) -> MediaUpload:
        upload = self.media.get(media_id)
        if upload is None:
            raise x_not_found("media", media_id, "media_id")
        return upload

    def append(self, media_id: str, segment_index: int, chunk: bytes) -> MediaUpload:
        upload = self.upload_of(media_id)
        if upload.finalized:
            raise x_invalid_request("The upload is already finalized.", parameter="id")
        upload.chunks[segment_index] = chunk
        self.dirty.add(("media", media_id))
        return upload

    def finalize(self, media_id: str) -> MediaUpload:
        upload = self.upload_of(media_id)
        if not upload.chunks:
            raise x_invalid_request("No media segments were appended.", parameter="id")
        size = len(upload.data)
        if upload.total_bytes is not None and size != upload.total_bytes:
            raise x_invalid_request(
                f"Uploaded {size} bytes, expected total_bytes {upload.total_bytes}.", parameter="id"
            )
        upload.finalized = True
        self.dirty.add(("media", media_id))
        return upload

    def poll_status(self, media_id: str) -> MediaUpload:
        upload = self.upload_of(media_id)
        if not upload.finalized:
            raise x_invalid_request("The upload is not finalized.", parameter="media_id")
        if upload.state in ("pending", "in_progress"):
            upload.status_polls += 1
            if upload.status_polls >= MEDIA_POLLS_TO_FINISH:
                upload.state = "failed" if _should_fail(upload.data) else "succeeded"
            else:
                upload.state = "in_progress"
            self.dirty.add(("media", media_id))
        return upload


def _should_fail(data: bytes) -> bool:
    first_line = data.split(b"\n", 1)[0]
    return first_line.startswith(MEDIA_HEADER) and b"fail" in first_line[len(MEDIA_HEADER) :]
