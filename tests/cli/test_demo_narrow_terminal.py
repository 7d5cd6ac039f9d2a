"""`campaigns demo` in an 80x24 terminal (a real pty; the real worker, API and sandbox): its
IDs whole, its bars drawn, no line over 80."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from cli.render import MIN_BAR_WIDTH
from core.db import make_engine, session_factory
from core.migrate import upgrade
from sandbox.app import create_app as create_sandbox
from tests.api.conftest import OPERATOR_KEY, api_settings
from tests.cli.pty_terminal import PtyRun, widest
from tests.helpers import serve_asgi
from worker import build_worker

pytestmark = pytest.mark.slow

COLUMNS = 80
BAR_ROW = re.compile(r"^(time|budget|payouts)\s+([━─]+)")
ENDED = re.compile(r"^campaign ([0-9a-f]{32}) ended closed$")


async def test_demo_fits_80_columns(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    upgrade(database_url)
    settings = api_settings(database_url, dev_env)
    engine = make_engine(database_url, pool_size=8)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with (
            serve_asgi(create_sandbox()) as sandbox_url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            worker = build_worker(
                dev_env.client,
                task_queue=settings.task_queue,
                sessions=session_factory(engine),
                http=http,
                x_base_url=sandbox_url,
                ledger_base_url=f"{sandbox_url}/ledger",
                x_bearer_token="app-only-token",
                activity_executor=executor,
            )
            async with worker, serve_asgi(create_app(settings, live_poll_interval=0.5)) as api_url:
                argv = ["demo", "--api-url", api_url, "--api-key", OPERATOR_KEY]
                argv += ["--sandbox-url", sandbox_url, "--participants", "50", "--engagers", "80"]
                demo = PtyRun(argv, cwd=tmp_path, columns=COLUMNS)
                code = await asyncio.to_thread(demo.wait, 240)
    engine.dispose()

    lines = demo.lines()
    assert code == 0, "\n".join(lines)
    assert widest(lines) <= COLUMNS, "\n".join(line for line in lines if len(line) > COLUMNS)
    assert not any("…" in line for line in lines), "\n".join(lines)
    ended = [m.group(1) for m in map(ENDED.match, lines) if m]
    assert len(ended) == 1, lines
    campaign_id = ended[0]
    assert any(line.startswith(f"campaign {campaign_id} published") for line in lines), lines
    assert any(line.startswith(f"{campaign_id}  closed") for line in lines), lines
    assert any(campaign_id in line for line in lines if line.startswith("next: campaigns show"))
    bars = {m.group(1): m.group(2) for m in map(BAR_ROW.match, lines) if m}
    assert sorted(bars) == ["budget", "payouts", "time"], lines
    assert all(len(bar) >= MIN_BAR_WIDTH for bar in bars.values()), bars
