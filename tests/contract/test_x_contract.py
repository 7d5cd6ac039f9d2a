"""The sandbox's X answers and the client's X requests, checked against X's own description."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from clients.http import make_http_client
from clients.ports import DuplicateContent, PermanentError, RateLimited, RetryableError
from clients.x_api import XApiClient
from sandbox.app import create_app
from tests.contract.openapi import SPEC_PATH, Exchange, record, validate_request, validate_response
from tests.helpers import serve_asgi
from tests.sandbox.world import SandboxWorld

pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(), reason=f"{SPEC_PATH} not present")


@dataclass
class Recorded:
    world: SandboxWorld
    http: httpx.AsyncClient
    exchanges: list[Exchange] = field(default_factory=list)

    def x(self, token: str | None = "app-token") -> XApiClient:
        return XApiClient(self.http, self.world.url, token)

    def x_exchanges(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.startswith("/2/")]


@pytest.fixture
async def recorded() -> AsyncIterator[Recorded]:
    exchanges: list[Exchange] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        await response.request.aread()  # multipart bodies stream; their bytes can be re-read
        exchanges.append(record(response))

    async with serve_asgi(create_app()) as url, make_http_client() as control:
        recording = make_http_client()
        recording.event_hooks["response"] = [keep]
        async with recording:
            yield Recorded(SandboxWorld(url, control), recording, exchanges)


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


def served_x_operations() -> set[tuple[str, str]]:
    """Read from the sandbox's own OpenAPI document, so a new route cannot escape the check."""
    paths = create_app().openapi()["paths"]
    return {
        (method.upper(), _shape(path))
        for path, operations in paths.items()
        if path.startswith("/2/")
        for method in operations
    }


async def test_every_served_endpoint_answers_as_described(recorded: Recorded) -> None:
    world = recorded.world
    token = await world.user("1001", "brand")
    x = recorded.x(token)
    media = (await world.http.get(f"{world.url}/sandbox/media/banner.png")).content
    media_id = await x.upload_media(media, "image/png")
    post = await x.create_post("Launch", media_ids=[media_id])
    await x.create_post("Terms", reply_to=post.id)
    await world.engage(
        post.id,
        *(
            {"user_id": str(2000 + n), "kind": kind}
            for n in range(3)
            for kind in ("like", "repost")
        ),
        *({"user_id": str(3000 + n), "kind": "quote"} for n in range(12)),
        *({"user_id": str(4000 + n), "kind": "reply"} for n in range(12)),
    )
    await x.post_metrics(post.id)
    await x.liking_users(post.id)
    await x.reposted_by(post.id)
    await x.quote_posts(post.id)
    await x.replies(post.id)
    await x.replies(post.id, since=datetime.now(UTC) - timedelta(minutes=1))  # start_time
    await x.recent_posts("1001", max_results=5)
    await x.delete_post(post.id)

    seen = set()
    for exchange in recorded.x_exchanges():
        assert exchange.status < 300, exchange
        template = validate_request(exchange)
        assert validate_response(exchange) == template
        seen.add((exchange.method, _shape(template)))
    assert seen == served_x_operations()


async def test_error_answers_are_described(recorded: Recorded) -> None:
    world = recorded.world
    x = recorded.x(await world.user("1001"))
    post = await x.create_post("once")
    with pytest.raises(DuplicateContent):
        await x.create_post("once")  # 403, problem+json
    with pytest.raises(PermanentError):
        await recorded.x("stranger").create_post("who?")  # 401, legacy errors
    with pytest.raises(PermanentError):
        await x.post_metrics("1234")  # 404 problem
    bad_page = await recorded.http.get(
        f"{world.url}/2/tweets/{post.id}/quote_tweets",
        params={"max_results": 5},
        headers={"authorization": "Bearer app"},
    )
    assert bad_page.status_code == 400
    await world.faults(error_rate=1.0)
    with pytest.raises(RetryableError):
        await x.liking_users(post.id)  # 503 problem
    await world.faults(rate_limit={"limit": 0, "window_s": 60})
    with pytest.raises(RateLimited):
        await x.reposted_by(post.id)  # 429, legacy errors

    statuses = set()
    for exchange in recorded.x_exchanges():
        validate_response(exchange)
        statuses.add(exchange.status)
    assert statuses >= {201, 400, 401, 403, 404, 429, 503}


def test_the_checks_can_fail() -> None:
    """The validator rejects what X would not send, so the passes above mean something."""
    wrong_id = Exchange(
        "POST",
        "/2/tweets",
        {},
        "application/json",
        b'{"text": "hi"}',
        201,
        "application/json",
        b'{"data": {"id": "not-digits", "text": "hi"}}',
    )
    with pytest.raises(AssertionError, match="does not match"):
        validate_response(wrong_id)
    too_many = Exchange(
        "GET",
        "/2/tweets/123/liking_users",
        {"max_results": "500"},
        "",
        b"",
        200,
        "application/json",
        b"{}",
    )
    with pytest.raises(AssertionError, match="max_results"):
        validate_request(too_many)
    unknown_problem = Exchange(
        "GET",
        "/2/tweets/123",
        {},
        "",
        b"",
        404,
        "application/problem+json",
        b'{"type": "about:nothing", "title": "x", "detail": "y"}',
    )
    with pytest.raises(AssertionError, match="does not match"):
        validate_response(unknown_problem)


async def test_every_served_endpoint_errors_as_described(recorded: Recorded) -> None:
    """Each X operation the sandbox serves: refused (401, or 400 for a missing query or body),
    then unavailable (503), every answer as described."""
    world = recorded.world
    operations = sorted(served_x_operations())
    for method, shape in operations:
        path = shape.replace("{}", "1234")
        await recorded.http.request(method, world.url + path)
    await world.faults(error_rate=1.0)
    for method, shape in operations:
        path = shape.replace("{}", "1234")
        await recorded.http.request(method, world.url + path, headers={"authorization": "Bearer a"})

    checked = [(e.method, e.status, validate_response(e)) for e in recorded.x_exchanges()]
    assert sorted({(m, _shape(t)) for m, s, t in checked if s in (400, 401)}) == operations
    assert sorted({(m, _shape(t)) for m, s, t in checked if s == 503}) == operations
