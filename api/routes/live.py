"""``WS /v1/campaigns/{id}/live``: the status document on connect and whenever it changes.

Auth is the ``Authorization: Bearer`` header or, for clients that cannot set headers (browsers),
the key in the first message: ``{"api_key": "..."}``. Refusals close the socket with 4401
(no valid key) or 4404 (no such campaign for this key), the reason in the close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.deps import resolve_api_key
from api.live import CLOSE_GOING_AWAY, LiveHub
from api.problems import Problem
from api.routes.campaigns import load_visible
from core.db import SessionFactory

router = APIRouter(tags=["live"])

FIRST_MESSAGE_TIMEOUT = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[len("bearer ") :].strip() or None
    return None


def _key_from_message(text: str) -> str | None:
    try:
        message = json.loads(text)
    except ValueError:
        return text.strip() or None
    if isinstance(message, dict):
        key = message.get("api_key") or _bearer(message.get("authorization"))
        return str(key) if key else None
    return None


def _authorize(websocket: WebSocket, key: str | None, campaign_id: str) -> None:
    sessions: SessionFactory = websocket.app.state.session_factory
    with sessions() as session:
        principal = resolve_api_key(key, websocket.app.state.settings, session)
    load_visible(sessions, principal, campaign_id)


async def _until_disconnected(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


@router.websocket("/v1/campaigns/{campaign_id}/live")
async def live(websocket: WebSocket, campaign_id: str) -> None:
    await websocket.accept()
    key = _bearer(websocket.headers.get("authorization"))
    try:
        if key is None:
            text = await asyncio.wait_for(websocket.receive_text(), FIRST_MESSAGE_TIMEOUT)
            key = _key_from_message(text)
        await asyncio.to_thread(_authorize, websocket, key, campaign_id)
    except (TimeoutError, WebSocketDisconnect):
        with contextlib.suppress(RuntimeError):
            await websocket.close(CLOSE_UNAUTHORIZED, "no API key")
        return
    except Problem as problem:
        code = CLOSE_NOT_FOUND if problem.status == 404 else CLOSE_UNAUTHORIZED
        await websocket.close(code, problem.detail[:120])
        return

    hub: LiveHub = websocket.app.state.live_hub
    with hub.connection():
        await _follow(websocket, hub, campaign_id)


async def _follow(websocket: WebSocket, hub: LiveHub, campaign_id: str) -> None:
    """Send each new document until the campaign ends (1000), the client leaves, or the server
    shuts down (1001)."""
    disconnected = asyncio.create_task(_until_disconnected(websocket))
    going_away = asyncio.create_task(hub.going_away.wait())
    try:
        async with hub.subscribe(campaign_id) as subscription:
            while not hub.going_away.is_set():
                following = asyncio.create_task(subscription.next())
                await asyncio.wait(
                    {following, disconnected, going_away}, return_when=asyncio.FIRST_COMPLETED
                )
                if not following.done():
                    following.cancel()
                    break
                document = following.result()
                if document is None:
                    break
                await websocket.send_json(document.model_dump(mode="json"))
        if disconnected.done():
            return
        if hub.going_away.is_set():
            await websocket.close(CLOSE_GOING_AWAY, "server shutting down")
        else:
            await websocket.close(1000, "campaign ended")
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        disconnected.cancel()
        going_away.cancel()
