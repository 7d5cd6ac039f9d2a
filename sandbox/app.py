"""The sandbox: one ASGI app that plays X API v2 (at the root) and the ledger (``/ledger``).

``create_app()`` is a factory: every app has its own fresh in-memory world, so tests never
share state. ``create_app(state_file)`` keeps the world in that SQLite file instead, loaded
at start and saved after every change (``campaigns dev`` uses ``.campaigns/sandbox.db``);
with a file the chain at ``/evm`` is built (and its journal replayed) here, at start.
``campaigns sandbox`` serves it with uvicorn (``--state-file`` or
CAMPAIGNS_SANDBOX_STATE_FILE names the file; neither: in memory).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sandbox import control_routes, evm_routes, ledger_routes, media_routes, x_routes
from sandbox.faults import FaultMiddleware, api_of
from sandbox.problems import SandboxHttpError, ledger_problem, x_invalid_request
from sandbox.state import SandboxState


def create_app(state_file: Path | None = None) -> FastAPI:
    state = SandboxState.open(state_file)
    background: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(evm_routes.close_node, app)
        for task in list(background):
            task.cancel()
        if state.store is not None:
            async with state.lock:  # no change is half-saved when the file closes
                state.store.close()

    app = FastAPI(
        title="campaigns sandbox",
        description="A local X API v2 subset and escrow ledger, with faults and ground truth.",
        lifespan=lifespan,
    )
    app.state.sandbox = state
    if state.chain_journal is not None:
        # A kept chain is replayed now, before the first request rather than on it (a worker
        # resolving the escrow at start must not wait on it), and a journal that does not
        # replay stops the start with its one-line reason.
        evm_routes.node_of(app)
    app.state.background = background
    app.include_router(x_routes.router)
    app.include_router(media_routes.router)
    app.include_router(ledger_routes.router)
    app.include_router(control_routes.router)
    app.include_router(evm_routes.router)  # Ethereum JSON-RPC on an in-process chain
    app.add_middleware(FaultMiddleware, state=state)

    @app.exception_handler(SandboxHttpError)
    async def _sandbox_error(_: Request, error: SandboxHttpError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "Invalid request."
        if api_of(request.url.path) == "ledger":
            return ledger_problem(400, "invalid-request", detail, field=where).response()
        return x_invalid_request(detail, parameter=where or None).response()

    return app
