"""Both error shapes X uses, as the client reads them.

The sandbox serves problems and the ``{code, message, errors[]}`` shape; the answers below are
ones real X gives that the sandbox does not (about:blank problems, bare ``errors[]``, a 200 that
carries only ``errors``), served by httpx's in-process transport.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from clients.http import raise_for_status
from clients.ports import DuplicateContent, PermanentError, RateLimited, RetryableError
from clients.x_api import XApiClient


def _client(answer: Callable[[httpx.Request], httpx.Response]) -> XApiClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return XApiClient(http, "https://api.x.test", "token")


async def test_legacy_duplicate_code_is_duplicate_content() -> None:
    x = _client(
        lambda _: httpx.Response(
            403, json={"errors": [{"code": 187, "message": "Status is a duplicate."}]}
        )
    )
    with pytest.raises(DuplicateContent):
        await x.create_post("again")


async def test_about_blank_duplicate_problem_is_duplicate_content() -> None:
    body = {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "You are not allowed to create a Tweet with duplicate content.",
    }
    x = _client(lambda _: httpx.Response(403, json=body))
    with pytest.raises(DuplicateContent) as caught:
        await x.create_post("again")
    assert caught.value.type == "about:blank"


async def test_other_403_is_permanent_not_duplicate() -> None:
    body = {"type": "about:blank", "title": "Forbidden", "status": 403, "detail": "Not allowed."}
    x = _client(lambda _: httpx.Response(403, json=body))
    with pytest.raises(PermanentError) as caught:
        await x.create_post("text")
    assert not isinstance(caught.value, DuplicateContent)
    assert (caught.value.status, caught.value.detail) == (403, "Not allowed.")


async def test_200_with_only_errors_is_not_found() -> None:
    body = {
        "errors": [
            {
                "value": "1",
                "detail": "Could not find tweet with id: [1].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": "1",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }
    x = _client(lambda _: httpx.Response(200, json=body))
    with pytest.raises(PermanentError) as caught:
        await x.post_metrics("1")
    assert caught.value.status == 404
    assert caught.value.detail == "Could not find tweet with id: [1]."


def test_429_reset_header_and_5xx() -> None:
    request = httpx.Request("GET", "https://api.x.test/2/tweets/1")
    limited = httpx.Response(429, headers={"x-rate-limit-reset": "1900000000"}, request=request)
    with pytest.raises(RateLimited) as caught:
        raise_for_status(limited, "GET")
    assert caught.value.reset_at == datetime.fromtimestamp(1_900_000_000, UTC)
    with pytest.raises(RetryableError):
        raise_for_status(
            httpx.Response(502, text="<html>bad gateway</html>", request=request), "GET"
        )


def test_legacy_errors_carry_their_message() -> None:
    request = httpx.Request("GET", "https://api.x.test/2/tweets/1")
    answer = httpx.Response(
        401,
        json={"errors": [{"code": 89, "message": "Invalid or expired token."}]},
        request=request,
    )
    with pytest.raises(PermanentError) as caught:
        raise_for_status(answer, "GET")
    assert caught.value.detail == "Invalid or expired token."
    assert "code 89" in str(caught.value)
