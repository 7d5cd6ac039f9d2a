"""``campaigns dev``: Temporal's dev server, migrations, sandbox, worker and API on loopback.

State (Temporal's history, the SQLite database, the operator key) lives in
``CAMPAIGNS_STATE_DIR``, so a second start carries on where the first stopped; deleting the
folder starts over.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import typer
from temporalio.client import Client

from cli.preflight import Endpoint, ensure_ports_free, parse_address
from cli.processes import ChildProcesses, poll_until
from cli.stack import migrate_database, safe_url
from core.config import ENV_PREFIX, Settings
from core.contracts import SEARCH_ATTRIBUTE_NAMES
from core.devserver import DEV_SERVER_FAST_ARGS, find_binary
from core.logging import get_logger

TEMPORAL_READY_SECONDS = 60.0
PARTS_READY_SECONDS = 60.0
OPERATOR_KEY_FILE = "operator_key"
SANDBOX_STATE_FILE = "sandbox.db"

log = get_logger("campaigns.dev")


@dataclass(frozen=True)
class DevStack:
    """Where each part of the local stack lives, decided from the settings before any start."""

    settings: Settings
    state_dir: Path
    database_url: str
    temporal: Endpoint
    temporal_ui: Endpoint
    sandbox: Endpoint
    api: Endpoint
    worker_metrics: Endpoint | None  # None: the worker serves no metrics (port 0)

    @property
    def endpoints(self) -> list[Endpoint]:
        parts = [self.temporal, self.temporal_ui, self.sandbox, self.api]
        return parts + ([self.worker_metrics] if self.worker_metrics else [])

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox}"


def plan_dev_stack(settings: Settings) -> DevStack:
    state_dir = settings.state_dir.resolve()
    # The dev stack keeps its SQLite database beside Temporal's state unless told otherwise.
    database_url = (
        settings.database_url
        if "database_url" in settings.model_fields_set
        else f"sqlite:///{state_dir / 'campaigns.db'}"
    )
    temporal = parse_address(settings.temporal_address, f"{ENV_PREFIX}TEMPORAL_ADDRESS")
    return DevStack(
        settings=settings,
        state_dir=state_dir,
        database_url=database_url,
        temporal=temporal,
        temporal_ui=Endpoint(
            temporal.host, settings.temporal_ui_port, "CAMPAIGNS_TEMPORAL_UI_PORT"
        ),
        sandbox=Endpoint(settings.sandbox_host, settings.sandbox_port, "CAMPAIGNS_SANDBOX_PORT"),
        api=Endpoint(settings.api_host, settings.api_port, "CAMPAIGNS_API_PORT"),
        worker_metrics=(
            Endpoint(
                settings.worker_metrics_host,
                settings.worker_metrics_port,
                "CAMPAIGNS_WORKER_METRICS_PORT",
            )
            if settings.worker_metrics_port
            else None
        ),
    )


def temporal_argv(binary: Path, stack: DevStack) -> list[str]:
    argv = [
        str(binary),
        "server",
        "start-dev",
        "--db-filename",
        str(stack.state_dir / "temporal.db"),
        "--ip",
        stack.temporal.host,
        "--port",
        str(stack.temporal.port),
        "--ui-port",
        str(stack.temporal_ui.port),
        "--ui-disable-news-fetch",
        "--log-format",
        "json" if stack.settings.log_format == "json" else "text",
    ]
    for name in SEARCH_ATTRIBUTE_NAMES:
        argv += ["--search-attribute", f"{name}=Keyword"]
    if stack.settings.temporal_namespace != "default":
        argv += ["--namespace", stack.settings.temporal_namespace]
    return argv + list(DEV_SERVER_FAST_ARGS)


def operator_key(stack: DevStack) -> str:
    """The configured key, else the one generated on the first start (kept, owner-only)."""
    configured = stack.settings.operator_api_key
    if configured is not None:
        return configured.get_secret_value()
    path = stack.state_dir / OPERATOR_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


SANDBOX_APP_TOKEN = "sandbox-app-token"


def child_env(stack: DevStack, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "CAMPAIGNS_DATABASE_URL": stack.database_url,
            "CAMPAIGNS_STATE_DIR": str(stack.state_dir),
            "CAMPAIGNS_OPERATOR_API_KEY": key,
            # The port checked free before the start, whether it came from the environment,
            # a .env file or the default.
            "CAMPAIGNS_WORKER_METRICS_HOST": stack.settings.worker_metrics_host,
            "CAMPAIGNS_WORKER_METRICS_PORT": str(stack.settings.worker_metrics_port),
        }
    )
    # The sandbox's world (users, posts, wallets, escrows) outlives a restart like the rest.
    if "sandbox_state_file" not in stack.settings.model_fields_set:
        env["CAMPAIGNS_SANDBOX_STATE_FILE"] = str(stack.state_dir / SANDBOX_STATE_FILE)
    # Point the clients at the sandbox unless someone chose other URLs on purpose.
    fields_set = stack.settings.model_fields_set
    if "x_base_url" not in fields_set:
        env["CAMPAIGNS_X_BASE_URL"] = stack.sandbox_url
        # The worker reads metrics and engagers with an app-level token; the sandbox accepts
        # any non-empty one for reads (posts still use each owner's own token).
        if "x_bearer_token" not in fields_set:
            env["CAMPAIGNS_X_BEARER_TOKEN"] = SANDBOX_APP_TOKEN
    if "ledger_base_url" not in fields_set:
        env["CAMPAIGNS_LEDGER_BASE_URL"] = f"{stack.sandbox_url}/ledger"
    # The local world pays through the escrow contract on the sandbox's chain; a ledger or
    # chain chosen in the environment or .env is passed on as chosen (CAMPAIGNS_LEDGER=http:
    # the HTTP ledger). The escrow address and key are then asked of the sandbox.
    env["CAMPAIGNS_LEDGER"] = stack.settings.ledger if "ledger" in fields_set else "evm"
    env["CAMPAIGNS_EVM_RPC_URL"] = (
        stack.settings.evm_rpc_url if "evm_rpc_url" in fields_set else f"{stack.sandbox_url}/evm"
    )
    return env


def temporal_answers(stack: DevStack) -> bool:
    """True once the frontend serves the namespace and can filter on our search attributes."""

    async def probe() -> None:
        client = await Client.connect(
            str(stack.temporal), namespace=stack.settings.temporal_namespace
        )
        await client.count_workflows(f"{SEARCH_ATTRIBUTE_NAMES[0]}='closed'")

    try:
        asyncio.run(asyncio.wait_for(probe(), timeout=5))
    except Exception:
        return False
    return True


def http_answers(url: str) -> bool:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code < 500


def ledger_label(stack: DevStack, env: dict[str, str]) -> str:
    if env["CAMPAIGNS_LEDGER"] == "http":
        return f"HTTP ledger at {env['CAMPAIGNS_LEDGER_BASE_URL']}"
    return f"escrow contract at {env['CAMPAIGNS_EVM_RPC_URL']}"


def print_banner(stack: DevStack, key: str, env: dict[str, str]) -> None:
    rows = [
        ("API docs", f"http://{stack.api}/docs"),
        ("Temporal UI", f"http://{stack.temporal_ui}"),
        ("Sandbox", stack.sandbox_url),
        ("Temporal", f"{stack.temporal} (namespace {stack.settings.temporal_namespace})"),
        ("API metrics", f"http://{stack.api}/metrics"),
        (
            "Worker metrics",
            f"http://{stack.worker_metrics}/metrics" if stack.worker_metrics else "off",
        ),
        ("Ledger", ledger_label(stack, env)),
        ("Database", safe_url(stack.database_url)),
        ("State", f"{stack.state_dir} (delete it to start over)"),
        ("Operator key", key),
    ]
    typer.echo("campaigns dev is running; Ctrl-C stops everything.")
    for label, value in rows:
        typer.echo(f"  {label:<15}{value}")


def run_dev_stack(settings: Settings) -> int:
    """Start everything, wait for Ctrl-C (or a part dying), stop everything. Returns exit code."""
    stack = plan_dev_stack(settings)
    binary = find_binary("temporal")
    ensure_ports_free(stack.endpoints)
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    key = operator_key(stack)
    env = child_env(stack, key)

    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    children = ChildProcesses()

    def abort_reason() -> str | None:
        if stop.is_set():
            return "interrupted"
        exited = children.first_exited()
        if exited is not None:
            return f"the {exited.name} exited with code {exited.exit_code()}"
        return None

    def start_part(name: str) -> None:
        children.start(name, [sys.executable, "-m", "cli", name], env, no_threads_yet=False)

    exit_code = 0
    try:
        children.start(
            "temporal dev server", temporal_argv(binary, stack), env, no_threads_yet=True
        )
        problem = poll_until(
            lambda: temporal_answers(stack), timeout=TEMPORAL_READY_SECONDS, abort=abort_reason
        )
        if problem is None:
            migrate_database(stack.database_url)
            # The sandbox first: the worker asks it for the escrow and key as it starts, and
            # a kept chain is replayed before the sandbox listens.
            start_part("sandbox")
            problem = poll_until(
                lambda: http_answers(f"{stack.sandbox_url}/"),
                timeout=PARTS_READY_SECONDS,
                abort=abort_reason,
            )
        if problem is None:
            for part in ("worker", "api"):
                start_part(part)
            problem = poll_until(
                lambda: http_answers(f"http://{stack.api}/healthz"),
                timeout=PARTS_READY_SECONDS,
                abort=abort_reason,
            )
        if problem is None:
            print_banner(stack, key, env)
            while not stop.wait(0.5):
                problem = abort_reason()
                if problem is not None:
                    break
        if problem is not None and problem != "interrupted":
            typer.echo(f"campaigns: {problem}; stopping the stack", err=True)
            exit_code = 1
    finally:
        typer.echo("stopping ...", err=True)
        killed = children.stop_all()
        if killed:
            log.warning("killed after the grace period", parts=killed)
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
        typer.echo("stopped.", err=True)
    return exit_code
