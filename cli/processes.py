"""The children of ``campaigns dev``: started in order, stopped in reverse, never orphaned."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """On Linux, have the kernel send this process SIGTERM when its parent dies, so a killed
    ``campaigns dev`` (kill -9) leaves no orphans. Python children call it themselves at start
    (cli/__main__.py); for the Temporal binary it runs between fork and exec."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def stopping_on_sigterm_exits_zero() -> Iterator[None]:
    """uvicorn handles SIGTERM itself and, once it has shut down gracefully, raises the signal
    again under the handler it found; with Python's default that kills the process (exit -15)
    though it stopped cleanly. A handler that does nothing there lets it return: exit 0."""
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()


@dataclass
class ChildProcesses:
    """Children started by ``start``; ``stop_all`` terminates them last-started first."""

    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, no_threads_yet: bool
    ) -> Child:
        """Start a child in its own session: Ctrl-C reaches only us, and we stop it in order.

        ``no_threads_yet``: nothing but this thread runs in our process (no Temporal client
        yet), so code between fork and exec is safe and sets the parent-death signal.
        """
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            start_new_session=True,
            preexec_fn=die_with_parent if no_threads_yet else None,
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        for child in self.children:
            if child.exit_code() is not None:
                return child
        return None

    def stop_all(self, *, grace_seconds: float = 15.0) -> list[str]:
        """SIGTERM each child (API and worker before the servers they talk to), wait up to
        ``grace_seconds`` for each, then SIGKILL. Returns the names that had to be killed."""
        killed = []
        for child in reversed(self.children):
            if child.exit_code() is None:
                child.process.terminate()
                try:
                    child.process.wait(timeout=grace_seconds)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait(timeout=grace_seconds)
                    killed.append(child.name)
        return killed


def poll_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    abort: Callable[[], str | None],
    interval: float = 0.2,
) -> str | None:
    """Call ``ready`` until it is true (returns None) or ``abort`` gives a reason, or time's up."""
    deadline = time.monotonic() + timeout
    while True:
        reason = abort()
        if reason is not None:
            return reason
        if ready():
            return None
        if time.monotonic() >= deadline:
            return f"not ready after {timeout:.0f}s"
        time.sleep(interval)
