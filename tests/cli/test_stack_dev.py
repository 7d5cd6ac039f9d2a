"""`campaigns dev` end to end: everything answers, Ctrl-C leaves no process, state survives."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from core.db import make_engine
from core.models import Owner
from tests.cli.devstack_run import dev_env
from tests.helpers import assert_eventually

VENV_BIN = Path(sys.executable).parent
PARTS = ("worker", "api.main", "sandbox.app")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
STARTUP_SECONDS = 120.0

pytestmark = pytest.mark.slow


def require_all_parts() -> None:
    missing = [name for name in PARTS if importlib.util.find_spec(name) is None]
    if missing:
        message = f"the stack's parts are not all written yet: {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class DevStackRun:
    process: subprocess.Popen[bytes]
    stdout: Path
    temporal_address: str
    api_url: str
    sandbox_url: str

    def banner(self) -> str:
        text = self.stdout.read_text()
        assert "Operator key" in text, "banner not printed yet"
        return text

    def operator_key(self) -> str:
        found = re.search(r"Operator key\s+(\S+)", self.banner())
        assert found is not None
        return found.group(1)


def child_pids(parent: int) -> list[int]:
    """Direct children of ``parent``, from /proc (field 4 of stat is the parent's pid)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    require_all_parts()
    return dev_env(tmp_path / "state")


@pytest.fixture
def start_stack(
    tmp_path: Path, stack_env: dict[str, str]
) -> Iterator[Callable[[str], DevStackRun]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(label: str) -> DevStackRun:
        stdout = tmp_path / f"{label}.out"
        with stdout.open("wb") as out, (tmp_path / f"{label}.err").open("wb") as err:
            process = subprocess.Popen(
                [str(VENV_BIN / "campaigns"), "dev"],
                env=stack_env,
                cwd=tmp_path,
                stdout=out,
                stderr=err,
            )
        started.append(process)
        return DevStackRun(
            process=process,
            stdout=stdout,
            temporal_address=stack_env["CAMPAIGNS_TEMPORAL_ADDRESS"],
            api_url=f"http://127.0.0.1:{stack_env['CAMPAIGNS_API_PORT']}",
            sandbox_url=f"http://127.0.0.1:{stack_env['CAMPAIGNS_SANDBOX_PORT']}",
        )

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


async def wait_until_everything_answers(run: DevStackRun) -> Client:
    def banner_printed() -> None:
        assert run.process.poll() is None, f"campaigns dev exited with {run.process.returncode}"
        run.banner()

    await assert_eventually(banner_printed, timeout=STARTUP_SECONDS, interval=0.2)
    async with httpx.AsyncClient(timeout=5) as http:
        health = await http.get(f"{run.api_url}/healthz")
        assert health.status_code == 200
        docs = await http.get(f"{run.api_url}/docs")
        assert docs.status_code == 200
        sandbox = await http.get(f"{run.sandbox_url}/")
        assert sandbox.status_code < 500
    client = await Client.connect(run.temporal_address)
    # The search attributes are registered: filtering on one is accepted.
    await client.count_workflows("CampaignStatus='closed'")
    return client


def interrupt_and_assert_everything_stops(run: DevStackRun) -> None:
    children = child_pids(run.process.pid)
    commands = " | ".join(command_line(pid) for pid in children)
    assert len(children) == 4, commands
    for part in ("server start-dev", "-m cli sandbox", "-m cli worker", "-m cli api"):
        assert part in commands
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(timeout=90) == 0
    still_there = [pid for pid in children if alive(pid)]
    assert still_there == [], [command_line(pid) for pid in still_there]


async def test_dev_stack_starts_stops_and_keeps_its_state(
    start_stack: Callable[[str], DevStackRun], stack_env: dict[str, str]
) -> None:
    first = start_stack("first")
    client = await wait_until_everything_answers(first)
    key = first.operator_key()
    state_dir = Path(stack_env["CAMPAIGNS_STATE_DIR"])
    assert (state_dir / "operator_key").read_text().strip() == key
    assert (state_dir / "temporal.db").exists()
    # Something in Temporal's state (a workflow no worker polls) and a row in the database.
    workflow_id = f"survives-restart-{uuid.uuid4()}"
    await client.start_workflow("NobodyRunsThis", id=workflow_id, task_queue=f"none-{uuid.uuid4()}")
    interrupt_and_assert_everything_stops(first)

    database_url = f"sqlite:///{state_dir / 'campaigns.db'}"
    engine = make_engine(database_url, pool_size=1)
    with Session(engine) as session:
        session.add(Owner(name="kept", x_user_id="x-kept", wallet="w-kept"))
        session.commit()

    second = start_stack("second")
    client = await wait_until_everything_answers(second)
    assert second.operator_key() == key
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.workflow_type == "NobodyRunsThis"
    with Session(engine) as session:
        assert session.exec(select(Owner).where(Owner.name == "kept")).one()
    engine.dispose()
    interrupt_and_assert_everything_stops(second)


async def test_killed_dev_stack_leaves_no_orphans(
    start_stack: Callable[[str], DevStackRun],
) -> None:
    """kill -9 skips our cleanup; the parent-death signal still stops every part."""
    run = start_stack("killed")
    await wait_until_everything_answers(run)
    children = child_pids(run.process.pid)
    assert len(children) == 4
    run.process.kill()
    run.process.wait(timeout=30)

    def all_gone() -> None:
        assert [pid for pid in children if alive(pid)] == []

    await assert_eventually(all_gone, timeout=60, interval=0.2)
