"""``campaigns dev`` as a test starts it: a real process on free ports with a temp state dir."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

VENV_BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120.0
STOP_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dev_env(state_dir: Path) -> dict[str, str]:
    """The caller's environment without its CAMPAIGNS_* settings, on free ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
    env.update(
        {
            "CAMPAIGNS_STATE_DIR": str(state_dir),
            "CAMPAIGNS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "CAMPAIGNS_TEMPORAL_UI_PORT": str(free_port()),
            "CAMPAIGNS_API_PORT": str(free_port()),
            "CAMPAIGNS_SANDBOX_PORT": str(free_port()),
            # not 9464: stacks of tests running side by side would take each other's port
            "CAMPAIGNS_WORKER_METRICS_PORT": str(free_port()),
            "CAMPAIGNS_LOG_FORMAT": "json",
        }
    )
    return env


@dataclass
class DevStack:
    env: dict[str, str]
    logs: Path
    runs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['CAMPAIGNS_API_PORT']}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.env['CAMPAIGNS_SANDBOX_PORT']}"

    @property
    def operator_key(self) -> str:
        return (Path(self.env["CAMPAIGNS_STATE_DIR"]) / "operator_key").read_text().strip()

    def start(self) -> None:
        """Start ``campaigns dev`` and return once it printed its banner (everything answers)."""
        label = f"dev-{len(self.runs) + 1}"
        stdout = self.logs / f"{label}.out"
        with stdout.open("wb") as out, (self.logs / f"{label}.err").open("wb") as err:
            process = subprocess.Popen(
                [str(VENV_BIN / "campaigns"), "dev"],
                env=self.env,
                cwd=self.logs,
                stdout=out,
                stderr=err,
            )
        self.runs.append(process)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not re.search(r"Operator key\s+\S+", stdout.read_text()):
            if process.poll() is not None:
                raise AssertionError(f"campaigns dev exited {process.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"campaigns dev not up after {STARTUP_SECONDS} s")
            time.sleep(0.2)

    def stderr(self) -> str:
        return (self.logs / f"dev-{len(self.runs)}.err").read_text()[-4000:]

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C or a service manager stops it; the stack stops every part."""
        process = self.runs[-1]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_SECONDS) == 0, self.stderr()

    def close(self) -> None:
        for process in self.runs:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()

    def sandbox_truth(self, what: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.sandbox_url}/sandbox/truth/{what}", timeout=10)
        answer.raise_for_status()
        return list(answer.json()[what])


def wait_for(describe: str, check: Any, *, timeout: float, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{describe}: not after {timeout:.0f} s")
        time.sleep(interval)
