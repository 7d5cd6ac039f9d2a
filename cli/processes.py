"""The children of ``campaigns dev``: started in order, stopped in reverse, never orphaned."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: its own session (Ctrl-C reaches only the parent, which stops
    the children in order) and, on Linux, SIGTERM if the parent dies without cleaning up."""
    os.setsid()
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        process = subprocess.Popen(list(argv), env=dict(env), preexec_fn=_die_with_parent)
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
