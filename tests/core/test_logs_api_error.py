"""Everything logged while the API meets a bug (an unexpected exception with the caller's key in
a local variable and in its message): a 500 problem document for the caller; in the log one
ERROR line with a short traceback, no frame's locals and no secret. The API is served the way
``campaigns api`` serves it: uvicorn's loggers propagate to the one handler."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from temporalio.testing import WorkflowEnvironment

from api.deps import CurrentPrincipal
from api.main import create_app
from core.config import Settings
from core.logging import configure_logging
from tests.helpers import assert_eventually

OPERATOR_KEY = "operator-key-" + uuid.uuid4().hex
LOCAL_MARKER = "local-marker-" + uuid.uuid4().hex


async def explode(principal: CurrentPrincipal, request: Request) -> None:
    """A bug in a route: what it holds in locals and says in its message is the caller's key."""
    authorization = request.headers["authorization"]
    held = {"authorization": authorization, "marker": LOCAL_MARKER}
    owner_key = authorization.removeprefix("Bearer ")
    raise RuntimeError(f"ledger refused {owner_key} (held {len(held)}; operator {OPERATOR_KEY})")


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@contextlib.contextmanager
def uvicorn_loggers_as_in_a_fresh_process() -> Iterator[None]:
    """Other tests serve with uvicorn's default log config, which leaves handlers of its own on
    these loggers (writing, unmasked, to a stream pytest has closed since). ``campaigns api``
    never installs them; neither may this test."""
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    saved = [(logger.handlers[:], logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.handlers.clear()
        logger.propagate = True
    try:
        yield
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers[:] = handlers
            logger.propagate = propagate


@contextlib.asynccontextmanager
async def serve_like_the_cli(app: FastAPI) -> AsyncIterator[str]:
    # log_config=None as in cli/stack.py: uvicorn's own lines go through configure_logging's.
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    with uvicorn_loggers_as_in_a_fresh_process():
        task = asyncio.create_task(server.serve())

        def started() -> None:
            assert server.started and server.servers, "server not started yet"

        try:
            await assert_eventually(started, timeout=20)
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=20)


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_500_logs_a_short_traceback_without_locals_or_the_callers_key(
    time_skipping_env: WorkflowEnvironment,
    sqlite_url: str,
    log_output: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    log_format: str,
) -> None:
    settings = Settings(
        database_url=sqlite_url,
        temporal_address=time_skipping_env.client.service_client.config.target_host,
        temporal_namespace=time_skipping_env.client.namespace,
        operator_api_key=OPERATOR_KEY,
        log_format=log_format,
        log_level="DEBUG",
    )
    configure_logging(settings, stream=log_output)
    app = create_app(settings)
    app.add_api_route("/v1/test/explode", explode, methods=["GET"])
    async with serve_like_the_cli(app) as url, httpx.AsyncClient(base_url=url) as http:
        created = await http.post(
            "/v1/owners",
            json={"name": "Acme", "x_user_id": "x-acme", "wallet": "w-acme"},
            headers={"Authorization": f"Bearer {OPERATOR_KEY}"},
        )
        assert created.status_code == 201, created.text
        owner_key = created.json()["api_key"]
        response = await http.get(
            "/v1/test/explode", headers={"Authorization": f"Bearer {owner_key}"}
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert owner_key not in response.text and "Traceback" not in response.text

    text = log_output.getvalue()
    everything = text + "".join(capfd.readouterr())
    assert owner_key not in everything and OPERATOR_KEY not in everything, "a secret was logged"
    assert LOCAL_MARKER not in text and "locals" not in text, "a frame's locals were rendered"
    assert "ledger refused ck_***" in text and "operator ***" in text
    assert text.count("Traceback") == 1, "the bug's traceback was printed more than once"
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        ours = [line for line in lines if line["event"] == "unexpected error"]
        assert len(ours) == 1 and ours[0]["level"] == "error"
        assert ours[0]["path"] == "/v1/test/explode"
        assert ours[0]["error"].startswith("RuntimeError: ledger refused ck_***")
        assert ours[0]["exception"].startswith("Traceback (most recent call last)")
        assert "in explode" in ours[0]["exception"]
    else:
        bug = text.split("unexpected error", 1)[1]
        assert "path=/v1/test/explode" in bug.splitlines()[0]
        assert "Traceback (most recent call last)" in bug and "in explode" in bug
