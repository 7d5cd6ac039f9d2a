"""Regressions the OpenAPI fuzz (tests/api/test_fuzz_openapi.py) found: the description said
refusals were FastAPI's ``application/json`` validation error (or said nothing), while every
refusal is an ``application/problem+json`` document; and a body that is not UTF-8 got a 400
the description did not mention."""

from __future__ import annotations

from typing import Any

from api.main import create_app
from api.problems import PROBLEM_MEDIA_TYPE
from core.config import Settings
from tests.api.conftest import CAMPAIGN_BODY, Stack, new_owner

# json.loads on these bytes raises UnicodeDecodeError, not JSONDecodeError: FastAPI's 400.
NOT_UTF8 = b'"\xff"'


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    spec = create_app(Settings(database_url="sqlite:///unused.db")).openapi()
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def test_every_declared_refusal_is_a_problem_document() -> None:
    refusals = 0
    for method, path, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            refusals += 1
            assert list(response.get("content", {})) == [PROBLEM_MEDIA_TYPE], (method, path)
            schema = response["content"][PROBLEM_MEDIA_TYPE]["schema"]
            assert {"title", "status", "detail"} <= set(schema["required"]), (method, path)
    assert refusals > 50


def test_every_route_behind_a_key_declares_the_refusals_any_caller_can_get() -> None:
    behind_a_key = [(m, p, o) for m, p, o in _operations() if p.startswith("/v1/")]
    assert len(behind_a_key) == 14
    for method, path, operation in behind_a_key:
        assert {"401", "422", "503"} <= set(operation["responses"]), (method, path)
        if "{campaign_id}" in path:
            assert "404" in operation["responses"], (method, path)
        if method == "POST":
            assert "400" in operation["responses"], (method, path)


async def test_a_body_that_is_not_utf8_is_a_declared_400_problem(stack: Stack) -> None:
    for path in ("/v1/owners", "/v1/participants"):
        response = await stack.operator.post(
            path, content=NOT_UTF8, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["status"] == 400
        declared = next(o for m, p, o in _operations() if (m, p) == ("POST", path))
        assert "400" in declared["responses"]


async def test_a_start_time_given_as_a_number_is_refused_and_the_draft_stays_a_draft(
    stack: Stack,
) -> None:
    # Pydantic reads a number as seconds since 1970: {"start_at": 0} was taken for 1970 and the
    # campaign published at once, though the description says start_at is date-time text.
    _, key = await new_owner(stack, "Epoch")
    async with stack.client(key) as owner:
        draft = await owner.post("/v1/campaigns", json={**CAMPAIGN_BODY, "name": "epoch"})
        assert draft.status_code == 201, draft.text
        campaign_id = draft.json()["id"]
        for start_at in (0, 0.0, 1_900_000_000):
            response = await owner.post(
                f"/v1/campaigns/{campaign_id}/publish", json={"start_at": start_at}
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
            assert response.json()["detail"].startswith("start_at:"), response.json()
        stored = (await owner.get(f"/v1/campaigns/{campaign_id}")).json()
        assert (stored["status"], stored["workflow_id"]) == ("draft", None)


async def test_an_end_time_given_as_a_number_is_refused(stack: Stack) -> None:
    response = await stack.operator.post(
        "/v1/campaigns/no-such-campaign/extend", json={"closes_at": 1_900_000_000}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("closes_at:"), response.json()
