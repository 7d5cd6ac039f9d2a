"""``campaigns migrate|sandbox|api|worker|dev``: the parts of the stack, one command each.

Every command is configured only by ``CAMPAIGNS_*`` settings (core.config). Problems a person
can fix (a malformed setting, a port in use, a missing binary) end in one line on stderr that
names the setting or the port, with exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import structlog
import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cli.preflight import Endpoint, StackError, ensure_ports_free
from cli.processes import stopping_on_sigterm_exits_zero
from core.config import Settings, SettingsError, get_settings
from core.devserver import MissingBinary
from core.logging import configure_logging

P = ParamSpec("P")
R = TypeVar("R")

USAGE_ERROR = 2


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a person can fix into one line on stderr and exit code 2.

    The process ends at once (``os._exit``) after the line: a Temporal client that failed to
    connect leaves the SDK's native threads running, and finalizing the interpreter under
    them can abort it ("PyGILState_Release ... finalizing", exit -6, seen once in CI) after
    the line was printed. Every ``finally`` of the command has run by then."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (SettingsError, MissingBinary, StackError) as error:
            typer.echo(f"campaigns: {error}", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(USAGE_ERROR)

    return wrapper


def load_settings(part: str) -> Settings:
    """Settings and logging for one part; its log lines carry ``process=<part>``."""
    settings = get_settings()
    configure_logging(settings)
    structlog.contextvars.bind_contextvars(process=part)
    return settings


def safe_url(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def migrate_database(database_url: str) -> None:
    from core.migrate import upgrade

    try:
        upgrade(database_url)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip()
        first_line = reason.splitlines()[0] if reason else type(error).__name__
        raise StackError(
            f"CAMPAIGNS_DATABASE_URL: cannot migrate {safe_url(database_url)}: {first_line}"
        ) from None


@one_line_errors
def migrate() -> None:
    """Bring the database at CAMPAIGNS_DATABASE_URL to the latest schema."""
    settings = load_settings("migrate")
    migrate_database(settings.database_url)
    typer.echo(f"database {safe_url(settings.database_url)} is at the latest schema")


# An idle keep-alive connection is closed by the client first: a server that closes it first
# races the client's next request on it, which then dies as a ReadError the client cannot tell
# from a crash mid-request (uvicorn's default is 5 s, httpx's expiry 5 s, the worker's 30 s;
# tests/cli/test_keep_alive.py).
IDLE_CONNECTION_TIMEOUT_SECONDS = 75


def asgi_server_options(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    """How ``campaigns api`` and ``campaigns sandbox`` serve their app factory (uvicorn's
    ``run``/``Config`` keywords)."""
    # log_config=None: uvicorn's loggers propagate to the root handler configure_logging set.
    return {
        "factory": True,
        "host": endpoint.host,
        "port": endpoint.port,
        "log_config": None,
        "log_level": settings.log_level.lower(),
        "ws": "websockets-sansio",
        "timeout_keep_alive": IDLE_CONNECTION_TIMEOUT_SECONDS,
    }


def serve_asgi_factory(
    factory: str | Callable[[], Any], endpoint: Endpoint, settings: Settings
) -> None:
    ensure_ports_free([endpoint])
    with stopping_on_sigterm_exits_zero():
        uvicorn.run(factory, **asgi_server_options(endpoint, settings))


@one_line_errors
def sandbox(
    state_file: Annotated[
        Path | None,
        typer.Option(
            help="keep the world in this SQLite file (default: CAMPAIGNS_SANDBOX_STATE_FILE; "
            "neither: in memory)"
        ),
    ] = None,
) -> None:
    """Serve the sandbox (X API v2 subset, ledger, faults) on CAMPAIGNS_SANDBOX_HOST:PORT."""
    from sandbox.app import create_app
    from sandbox.persistence import SandboxStoreError

    settings = load_settings("sandbox")
    endpoint = Endpoint(settings.sandbox_host, settings.sandbox_port, "CAMPAIGNS_SANDBOX_PORT")
    ensure_ports_free([endpoint])
    try:
        # Built (and its state file read) here, so a bad file is one line, not a traceback.
        app = create_app(state_file or settings.sandbox_state_file)
    except SandboxStoreError as error:
        raise StackError(str(error)) from None
    serve_asgi_factory(lambda: app, endpoint, settings)


@one_line_errors
def api() -> None:
    """Serve the HTTP API on CAMPAIGNS_API_HOST:PORT (OpenAPI at /docs)."""
    settings = load_settings("api")
    endpoint = Endpoint(settings.api_host, settings.api_port, "CAMPAIGNS_API_PORT")
    serve_asgi_factory("api.main:create_app", endpoint, settings)


@one_line_errors
def worker() -> None:
    """Run a worker on CAMPAIGNS_TASK_QUEUE against CAMPAIGNS_TEMPORAL_ADDRESS."""
    settings = load_settings("worker")
    # Imported here: the worker pulls in every workflow and activity, which other commands
    # do not need.
    from worker import run_until_signalled

    asyncio.run(run_until_signalled(settings))


@one_line_errors
def dev() -> None:
    """The whole local stack on loopback: Temporal dev server (with Web UI), sandbox, worker,
    API, SQLite. State is kept in CAMPAIGNS_STATE_DIR; Ctrl-C stops everything."""
    from cli.devstack import run_dev_stack

    raise typer.Exit(run_dev_stack(load_settings("dev")))


def register(app: typer.Typer) -> None:
    for command in (dev, migrate, sandbox, api, worker):
        app.command(name=command.__name__)(command)
