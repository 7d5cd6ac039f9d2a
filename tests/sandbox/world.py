"""A running sandbox for tests: its base URL, an HTTP client, and the ``/sandbox`` controls."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from clients.http import make_http_client
from clients.ledger import LedgerClient
from clients.x_api import XApiClient
from sandbox.app import create_app
from tests.helpers import serve_asgi


@dataclass
class SandboxWorld:
    url: str
    http: httpx.AsyncClient

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"{self.url}/sandbox{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def user(self, user_id: str, username: str | None = None) -> str:
        """Create an X user; returns its bearer token."""
        answer = await self.control("POST", "/users", {"id": user_id, "username": username})
        return str(answer["token"])

    async def fund(self, account: str, amount: int) -> int:
        answer = await self.control("POST", "/accounts", {"account": account, "balance": amount})
        return int(answer["balance"])

    async def balance(self, account: str) -> int:
        return int((await self.control("GET", f"/accounts/{account}"))["balance"])

    async def engage(self, tweet_id: str, *engagements: dict[str, Any]) -> list[str]:
        body = {"tweet_id": tweet_id, "engagements": list(engagements)}
        return list((await self.control("POST", "/engagements", body))["post_ids"])

    async def faults(self, **faults: Any) -> None:
        await self.control("PUT", "/faults", faults)

    async def clear_faults(self) -> None:
        await self.control("DELETE", "/faults")

    async def posts(self) -> list[dict[str, Any]]:
        return list((await self.control("GET", "/truth/posts"))["posts"])

    async def transfers(self) -> list[dict[str, Any]]:
        return list((await self.control("GET", "/truth/transfers"))["transfers"])

    def x(self, bearer_token: str | None = "app-token", **kwargs: Any) -> XApiClient:
        return XApiClient(self.http, self.url, bearer_token, **kwargs)

    def ledger(self) -> LedgerClient:
        return LedgerClient(self.http, f"{self.url}/ledger")


@contextlib.asynccontextmanager
async def running_sandbox() -> AsyncIterator[SandboxWorld]:
    """A fresh sandbox app served on a real loopback port."""
    async with serve_asgi(create_app()) as url, make_http_client() as http:
        yield SandboxWorld(url=url, http=http)
