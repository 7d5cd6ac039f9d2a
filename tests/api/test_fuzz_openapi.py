"""The API fuzzed from its own OpenAPI description (schemathesis), over real HTTP: the app as
``campaigns api`` serves it (uvicorn on a free port, the real lifespan, the dev server, a worker
running the real workflow), called as the operator, as an owner and with no key.

The promises under attack: no answer is a 5xx; every answer is one the description declares
(status code, content type, headers, body against its response model); every 4xx is an
``application/problem+json`` document; and a refused call leaves every stored row as it was.

Over HTTP rather than schemathesis's ASGI transport: that transport runs the app in the
caller's thread without its lifespan, so it would test an app with no engine, no Temporal
client and no worker behind it, not the one clients reach.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.api.conftest import CAMPAIGN_BODY, Stack, eventually, new_owner
from tests.api.fuzz_support import DRAFT, RUNNING, FuzzTarget, fuzz_operation

pytestmark = [pytest.mark.dev_server, pytest.mark.slow]

# Cases per operation and mode; 16 operations x 2 modes: about a minute on 2 shared cores.
# A deeper hunt: FUZZ_EXAMPLES=200 (the cases stay derandomized, so a run repeats).
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
OPERATIONS = 16

# Polls a day apart: the running campaign writes no row of its own while it is fuzzed.
QUIET_CAMPAIGN = {**CAMPAIGN_BODY, "duration_seconds": 86_400, "poll_interval_seconds": 86_400}


async def _campaigns(stack: Stack, owner_key: str) -> dict[str, str]:
    async with stack.client(owner_key) as owner:
        draft = await owner.post("/v1/campaigns", json={**QUIET_CAMPAIGN, "name": "fuzz draft"})
        assert draft.status_code == 201, draft.text
        running = await owner.post(
            "/v1/campaigns",
            json={**QUIET_CAMPAIGN, "name": "fuzz run", "first_post": {"text": "Fuzz run!"}},
        )
        assert running.status_code == 201, running.text
        running_id = running.json()["id"]
        published = await owner.post(f"/v1/campaigns/{running_id}/publish")
        assert published.status_code == 202, published.text

        async def is_running() -> None:
            status = (await owner.get(f"/v1/campaigns/{running_id}/status")).json()
            assert status["status"] == "running", status

        await eventually(is_running, timeout=30)
    return {DRAFT: draft.json()["id"], RUNNING: running_id}


def _explained(error: BaseException) -> str:
    """The failure and what it wraps: hypothesis reports a flaky case as a group of the
    failures it saw."""
    nested = getattr(error, "exceptions", ())
    return "\n".join([str(error), *(_explained(inner) for inner in nested)])


def _takes_input(operation: Any) -> bool:
    return bool(operation.path_parameters or operation.query or operation.headers or operation.body)


def _fuzz_all(schema: Any, target: FuzzTarget) -> tuple[int, list[str]]:
    operations, failures = 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(operation, mode, target, MAX_EXAMPLES)()
            except Unsatisfiable:
                # No input can break the schema of an operation that takes none (/healthz).
                assert mode is GenerationMode.NEGATIVE and not _takes_input(operation), operation
            except BaseException as error:  # schemathesis raises its failures as a group
                if not isinstance(error, Exception | BaseExceptionGroup):
                    raise
                failures.append(f"{operation.label} [{mode.value}]: {_explained(error)}")
    return operations, failures


async def test_fuzzed_requests_get_declared_answers_and_refusals_store_nothing(
    stack: Stack,
) -> None:
    _, owner_key = await new_owner(stack, "Fuzz")
    campaigns = await _campaigns(stack, owner_key)
    description = (await stack.operator.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(description)
    assert stack.settings.operator_api_key is not None
    engine = sa.create_engine(stack.settings.database_url)
    target = FuzzTarget(
        base_url=stack.url,
        engine=engine,
        callers={
            "operator": stack.settings.operator_api_key.get_secret_value(),
            "owner": owner_key,
            "anonymous": None,
        },
        campaigns=campaigns,
    )
    try:
        operations, failures = await asyncio.to_thread(_fuzz_all, schema, target)
    finally:
        engine.dispose()
    assert operations == OPERATIONS
    assert not failures, "\n\n".join(failures)
    # The fuzz got past the door: each caller got answers, and some were successes.
    callers = {caller for _, caller, _ in target.seen}
    assert callers == {"operator", "owner", "anonymous"}
    assert any(200 <= status < 300 for _, _, status in target.seen)
