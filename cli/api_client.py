"""A small synchronous client of the campaigns API, for the CLI's commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.sync.client import connect

from core.config import Settings

OPERATOR_KEY_FILE = "operator_key"


class ApiError(Exception):
    """The API refused (its problem document's reason) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Connection:
    api_url: str
    api_key: str | None


def resolve_connection(settings: Settings, api_url: str | None, api_key: str | None) -> Connection:
    """Flags first, then settings (``CAMPAIGNS_API_URL`` / ``CAMPAIGNS_API_KEY``), then the
    operator key of a local stack (setting or the key ``campaigns dev`` generated)."""
    key = api_key
    if key is None and settings.api_key is not None:
        key = settings.api_key.get_secret_value()
    if key is None and settings.operator_api_key is not None:
        key = settings.operator_api_key.get_secret_value()
    if key is None:
        key_file = Path(settings.state_dir) / OPERATOR_KEY_FILE
        if key_file.exists():
            key = key_file.read_text().strip() or None
    return Connection(api_url=(api_url or settings.api_url).rstrip("/"), api_key=key)


def transport_reason(error: Exception) -> str:
    """What went wrong on the way, in words: the OS's reason without its errno tag, never an
    empty string (httpx's timeouts can carry none) or a class name."""
    if isinstance(error, httpx.TimeoutException):
        return "it did not answer in time"
    reason = re.sub(r"^\[Errno -?\d+\] ", "", str(error)).strip()
    return reason or "the connection failed"


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict) and "detail" in body:
        return f"{body.get('title', 'refused')} ({response.status_code}): {body['detail']}"
    return f"HTTP {response.status_code}: {body}"


class ApiClient:
    def __init__(self, connection: Connection, *, timeout: float = 30.0) -> None:
        self.connection = connection
        headers = {"Authorization": f"Bearer {connection.api_key}"} if connection.api_key else {}
        self._http = httpx.Client(base_url=connection.api_url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[bytes, bytes] | None = None,
    ) -> Any:
        try:
            response = self._http.request(
                method, path, json=json_body, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            reason = transport_reason(error)
            raise ApiError(f"cannot reach the API at {self.connection.api_url}: {reason}") from None
        if response.status_code >= 400:
            raise ApiError(_reason(response), response.status_code)
        return response.json()

    def list_campaigns(self, **filters: Any) -> dict[str, Any]:
        params = {name: value for name, value in filters.items() if value is not None}
        result: dict[str, Any] = self.request("GET", "/v1/campaigns", params=params)
        return result

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/campaigns/{campaign_id}")
        return result

    def status(self, campaign_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/campaigns/{campaign_id}/status")
        return result

    def publish(self, campaign_id: str, start_at: str | None = None) -> dict[str, Any]:
        body = {"start_at": start_at} if start_at else {}
        result: dict[str, Any] = self.request(
            "POST", f"/v1/campaigns/{campaign_id}/publish", json_body=body
        )
        return result

    def signal(self, campaign_id: str, name: str, reason: str | None) -> dict[str, Any]:
        body = {"reason": reason} if reason else {}
        result: dict[str, Any] = self.request(
            "POST", f"/v1/campaigns/{campaign_id}/{name}", json_body=body
        )
        return result

    def extend(self, campaign_id: str, closes_at: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "POST", f"/v1/campaigns/{campaign_id}/extend", json_body={"closes_at": closes_at}
        )
        return result

    def top_up(self, campaign_id: str, amount: int, key: str) -> dict[str, Any]:
        """``{key, state, budget, outcome}``: state ``done`` with the new budget, or
        ``in_progress`` (read it later at ``outcome``, or send again with the same key)."""
        result: dict[str, Any] = self.request(
            "POST",
            f"/v1/campaigns/{campaign_id}/top-up",
            json_body={"amount": amount},
            # Bytes: a key outside ASCII reaches the API, which says what a key may hold.
            headers={b"Idempotency-Key": key.encode()},
        )
        return result

    def live(self, campaign_id: str) -> Iterator[dict[str, Any]]:
        """Status documents from ``WS /live`` until the campaign ends (the server closes)."""
        url = self.connection.api_url.replace("http://", "ws://", 1).replace(
            "https://", "wss://", 1
        )
        headers = (
            {"Authorization": f"Bearer {self.connection.api_key}"}
            if self.connection.api_key
            else {}
        )
        try:
            with connect(
                f"{url}/v1/campaigns/{campaign_id}/live", additional_headers=headers
            ) as socket:
                try:
                    for message in socket:
                        yield json.loads(message)
                except ConnectionClosed:
                    pass
                code, reason = socket.close_code, socket.close_reason
        except (OSError, InvalidStatus, InvalidURI) as error:
            raise ApiError(
                f"cannot open the live stream at {url}: {transport_reason(error)}"
            ) from None
        if code not in (1000, None):
            raise ApiError(f"the API closed the live stream ({code}): {reason}", code)
