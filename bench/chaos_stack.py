"""The real processes of a chaos run: Temporal's dev server, the sandbox, the worker, the API
and a fresh PostgreSQL schema, each started as ``campaigns dev`` would, and the faults done
to them (SIGKILL the worker, stop and restart Temporal or PostgreSQL).

The driver never starts a thread (children are awaited by polling, never by asyncio's
thread-based child watcher), so setting the parent-death signal between fork and exec stays
safe: a chaos run killed with -9 leaves no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from cli.processes import die_with_parent
from core.contracts import SEARCH_ATTRIBUTE_NAMES
from core.devserver import DEV_SERVER_FAST_ARGS, find_binary

READY_SECONDS = 60.0
# The sandbox (which deploys its chain at start) and the API import a lot: with the suite's
# six small benchmark stacks starting at once on two cores, a sandbox took over 60 s once.
PART_READY_SECONDS = 180.0
STOP_GRACE_SECONDS = 15.0
SANDBOX_APP_TOKEN = "sandbox-app-token"  # reads only; the sandbox takes any non-empty token


def snapshot(revision: str, into: Path) -> Path:
    """The repository's code at ``revision`` (``git archive``), unpacked into ``into``."""
    repo = Path(__file__).resolve().parent.parent
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", revision], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


async def run_capture(argv: Sequence[str]) -> tuple[int, str]:
    """Like ``run_command``, for commands that print a little (the pipe never fills)."""
    process = subprocess.Popen(  # noqa: ASYNC220
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    while process.poll() is None:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert process.stdout is not None
    return process.returncode, process.stdout.read().decode()


# What ``campaigns api|sandbox`` (cli/preflight.py) and uvicorn say when a port is taken.
PORT_TAKEN = "already in use"
PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run_command(argv: Sequence[str], *, env: dict[str, str] | None = None) -> int:
    """Run a short command to its end without blocking the loop (and without a thread)."""
    # Popen and polling, not asyncio's subprocesses: their child watcher starts a thread.
    process = subprocess.Popen(  # noqa: ASYNC220
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while process.poll() is None:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return process.returncode


async def wait_until(
    what: str, check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.3
) -> None:
    """Await ``check()`` until it is true; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")
        await asyncio.sleep(interval)


class PartExited(RuntimeError):
    """A part of the stack exited while the stack waited for it to answer."""

    def __init__(self, name: str, returncode: int, log_tail: str) -> None:
        super().__init__(
            f"{name} exited with code {returncode} before answering; its log ends:\n{log_tail}"
        )
        self.name = name
        self.returncode = returncode


@dataclass
class Part:
    """One child process; ``starts`` counts its incarnations (each has its own log)."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    expected_exit: bool = False
    # Settings of this process alone (a second worker's own metrics port, say).
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class ChaosStack:
    state_dir: Path
    postgres_admin_url: str
    # Run the processes from this copy of the code (PYTHONPATH wins over the editable
    # install), so others' unfinished edits in the work tree stay out of a run.
    code_dir: Path | None = None
    # The dev server suggests continue-as-new after this many history events (Temporal's own
    # default is 4,096), so short campaigns take that path too.
    continue_as_new_after: int | None = None
    # Worker processes on the one task queue: "worker", then "worker-2", "worker-3", ...
    workers: int = 1
    # SQLite in the state directory instead of a PostgreSQL schema (the benchmarks' choice).
    sqlite: bool = False
    # The worker's ledger adapter (CAMPAIGNS_LEDGER): the HTTP ledger, or the escrow contract
    # on the sandbox's chain (its key and address read from the sandbox's /sandbox/evm).
    ledger: str = "http"
    # More CAMPAIGNS_* settings for every process (a bench's --setting NAME=VALUE).
    settings: dict[str, str] = field(default_factory=dict)
    # Each worker runs under cProfile and writes <name>.prof here when it stops (SIGTERM).
    profile_dir: Path | None = None
    operator_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    schema: str = field(default_factory=lambda: f"chaos_{uuid.uuid4().hex[:10]}")
    temporal_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    worker_metrics_port: int = field(default_factory=free_port)
    parts: dict[str, Part] = field(default_factory=dict)
    # Exits nobody asked for (e.g. the worker giving up while Temporal was down): restarted,
    # and reported.
    unexpected_exits: list[str] = field(default_factory=list)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def database_url(self) -> str:
        if self.sqlite:
            return f"sqlite:///{self.state_dir / 'campaigns.db'}"
        separator = "&" if "?" in self.postgres_admin_url else "?"
        return f"{self.postgres_admin_url}{separator}options=-csearch_path%3D{self.schema}"

    def env(self) -> dict[str, str]:
        # Nothing of the caller's own CAMPAIGNS_* settings leaks into the run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
        env.update(
            PYTHONUNBUFFERED="1",
            CAMPAIGNS_DATABASE_URL=self.database_url,
            CAMPAIGNS_TEMPORAL_ADDRESS=self.temporal_address,
            CAMPAIGNS_OPERATOR_API_KEY=self.operator_key,
            CAMPAIGNS_API_PORT=str(self.api_port),
            CAMPAIGNS_SANDBOX_PORT=str(self.sandbox_port),
            CAMPAIGNS_WORKER_METRICS_PORT=str(self.worker_metrics_port),
            CAMPAIGNS_X_BASE_URL=self.sandbox_url,
            CAMPAIGNS_X_BEARER_TOKEN=SANDBOX_APP_TOKEN,
            CAMPAIGNS_LEDGER_BASE_URL=f"{self.sandbox_url}/ledger",
            CAMPAIGNS_LEDGER=self.ledger,
            CAMPAIGNS_EVM_RPC_URL=f"{self.sandbox_url}/evm",
            CAMPAIGNS_STATE_DIR=str(self.state_dir),
            CAMPAIGNS_LOG_FORMAT="json",
        )
        env.update(self.settings)
        if self.code_dir is not None:
            env["PYTHONPATH"] = str(self.code_dir)
        return env

    # --- starting and stopping ---------------------------------------------------------

    def _spawn(self, part: Part) -> None:
        part.starts += 1
        part.expected_exit = False
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / f"{part.name}-{part.starts}.log").open("wb") as log:
            part.process = subprocess.Popen(
                part.argv,
                env={**self.env(), **part.env},
                cwd=self.state_dir,  # no stray .env from the caller's directory
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Only while this process has one thread is code between fork and exec safe.
                preexec_fn=die_with_parent if threading.active_count() == 1 else None,
            )

    def start_part(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.parts[name] = Part(name, argv, env=dict(env or {}))
        self._spawn(self.parts[name])

    @property
    def worker_names(self) -> list[str]:
        return ["worker"] + [f"worker-{k}" for k in range(2, self.workers + 1)]

    def stop_part(self, name: str, sig: int = signal.SIGTERM) -> None:
        part = self.parts[name]
        part.expected_exit = True
        if part.process is None or part.process.poll() is not None:
            return
        part.process.send_signal(sig)

    async def wait_exit(self, name: str, timeout: float = STOP_GRACE_SECONDS) -> None:
        process = self.parts[name].process
        assert process is not None
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() >= deadline:
                process.kill()
            await asyncio.sleep(0.05)

    def temporal_argv(self) -> list[str]:
        argv = [
            str(find_binary("temporal")),
            "server",
            "start-dev",
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--headless",
            "--log-level",
            "warn",
        ]
        for name in SEARCH_ATTRIBUTE_NAMES:
            argv += ["--search-attribute", f"{name}=Keyword"]
        if self.continue_as_new_after:
            limit = f"limit.historyCount.suggestContinueAsNew={self.continue_as_new_after}"
            argv += ["--dynamic-config-value", limit]
        return argv + list(DEV_SERVER_FAST_ARGS)

    async def temporal_answers(self) -> bool:
        """The frontend serves the namespace and filters on our search attributes."""
        query = f"{SEARCH_ATTRIBUTE_NAMES[0]}='closed'"
        argv = [str(find_binary("temporal")), "workflow", "count", "--query", query]
        return await run_command([*argv, "--address", self.temporal_address]) == 0

    async def part_answers(self, name: str, url: str) -> bool:
        """``url`` answers 200; a part that has exited will never answer, so that is an error
        at once, carrying the end of its log (a port taken since ``free_port``, a bad setting),
        not a wait until the deadline with the log deleted afterwards."""
        process = self.parts[name].process
        if process is not None and process.poll() is not None:
            raise PartExited(name, process.returncode, self.log_tail(name))
        return await self.http_answers(url)

    def log_tail(self, name: str, lines: int = 30) -> str:
        log = self.state_dir / "logs" / f"{name}-{self.parts[name].starts}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def http_answers(self, url: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.start_part("temporal", self.temporal_argv())
        await wait_until("the Temporal dev server", self.temporal_answers, READY_SECONDS)
        if not self.sqlite:
            with psycopg.connect(self.postgres_admin_url, autocommit=True) as connection:
                connection.execute(f'CREATE SCHEMA "{self.schema}"')
        python = [sys.executable, "-m", "cli"]
        if await run_command([*python, "migrate"], env=self.env()) != 0:
            raise RuntimeError(f"campaigns migrate failed on schema {self.schema}")
        # Before the workers: they are given its URL (and one on the chain asks it at start).
        await self._start_listening("sandbox", [*python, "sandbox"], self._sandbox_ready)
        for name in self.worker_names:
            # Each worker serves its own metrics; the first keeps worker_metrics_port.
            port = self.worker_metrics_port if name == "worker" else free_port()
            argv = self._profiled(name, [*python, "worker"])
            self.start_part(name, argv, {"CAMPAIGNS_WORKER_METRICS_PORT": str(port)})
        await self._start_listening("api", self._profiled("api", [*python, "api"]), self._api_ready)

    async def _start_listening(
        self, name: str, argv: list[str], ready: Callable[[], Awaitable[None]]
    ) -> None:
        """Start a part that listens on the port ``free_port`` chose when the stack was made.
        Any outgoing connection since (a worker's, PostgreSQL's, the dev server's own) may
        have been given that port as its source port, from the same ephemeral range; a part
        that exits saying so starts again on a port chosen now."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.start_part(name, argv)
            try:
                await ready()
                return
            except PartExited as exited:
                if PORT_TAKEN not in str(exited) or attempt == PORT_ATTEMPTS:
                    raise
            if name == "api":
                self.api_port = free_port()
            else:
                self.sandbox_port = free_port()

    async def _api_ready(self) -> None:
        await wait_until(
            "the API",
            lambda: self.part_answers("api", f"{self.api_url}/readyz"),
            PART_READY_SECONDS,
        )

    def _profiled(self, name: str, argv: list[str]) -> list[str]:
        """``python -m cli X`` under cProfile when asked: ``<name>.prof`` in the profile dir."""
        if self.profile_dir is None:
            return argv
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        profile = str(self.profile_dir / f"{name}.prof")
        return [sys.executable, "-m", "cProfile", "-o", profile, *argv[1:]]

    async def _sandbox_ready(self) -> None:
        await wait_until(
            "the sandbox",
            lambda: self.part_answers("sandbox", f"{self.sandbox_url}/sandbox/faults"),
            PART_READY_SECONDS,
        )

    async def stop(self) -> None:
        """API and worker first, then the servers they talk to; then drop the schema."""
        first = ["api", *self.worker_names]
        others = [n for n in self.parts if n not in (*first, "sandbox", "temporal")]
        for name in (*first, *others, "sandbox", "temporal"):
            if name in self.parts:
                self.stop_part(name)
                await self.wait_exit(name)

    def drop_schema(self) -> None:
        if self.sqlite:
            return
        with psycopg.connect(self.postgres_admin_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    # --- chaos -------------------------------------------------------------------------

    async def count_workflows(self, query: str) -> int | None:
        argv = [str(find_binary("temporal")), "workflow", "count", "-o", "json"]
        code, out = await run_capture([*argv, "--query", query, "--address", self.temporal_address])
        return int(json.loads(out).get("count", 0)) if code == 0 else None

    async def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL: no drain, no goodbye; in-flight activities time out and are retried
        (on another worker, when there are several)."""
        self.stop_part(name, signal.SIGKILL)
        await self.wait_exit(name)
        self._spawn(self.parts[name])

    async def restart_temporal(self) -> float:
        """Stop the dev server and start it on the same port and history file; returns how
        long Temporal was unavailable."""
        started = time.monotonic()
        self.stop_part("temporal")
        await self.wait_exit("temporal")
        self._spawn(self.parts["temporal"])
        await wait_until("the restarted Temporal dev server", self.temporal_answers, READY_SECONDS)
        return time.monotonic() - started

    async def restart_postgres(self) -> float:
        started = time.monotonic()
        clusters = sorted(os.listdir("/etc/postgresql"))
        argv = ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "restart"]
        if await run_command(argv) != 0:
            raise RuntimeError(f"{' '.join(argv)} failed")
        return time.monotonic() - started

    async def supervise(self) -> None:
        """Restart the worker or API whenever it exits without being asked to; a dead
        sandbox or Temporal ends the run (their world is gone or they are being restarted)."""
        while True:
            for part in self.parts.values():
                code = part.process.poll() if part.process else None
                if code is None or part.expected_exit:
                    continue
                self.unexpected_exits.append(f"{part.name} #{part.starts} exited {code}")
                if part.name not in (*self.worker_names, "api"):
                    raise RuntimeError(f"the {part.name} exited with code {code}")
                await asyncio.sleep(1)  # e.g. Temporal still down: do not spin
                self._spawn(part)
            await asyncio.sleep(0.25)
