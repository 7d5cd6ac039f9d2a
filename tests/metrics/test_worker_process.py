"""``campaigns worker`` as an operator runs it: its metrics port answers with Temporal's SDK
metrics and the attention gauge from the first report, and SIGTERM still drains it."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from core import metrics
from tests.cli.test_stack_errors import clean_env
from tests.helpers import assert_eventually
from tests.metrics.scrape import free_port, scrape, value_of

pytestmark = pytest.mark.dev_server

VENV_BIN = Path(sys.executable).parent


async def test_the_worker_process_serves_its_metrics_on_the_configured_port(
    dev_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path
) -> None:
    port = free_port()
    task_queue = f"tq-{uuid.uuid4()}"
    env = clean_env(
        CAMPAIGNS_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        CAMPAIGNS_TEMPORAL_NAMESPACE=dev_env.client.namespace,
        CAMPAIGNS_TASK_QUEUE=task_queue,
        CAMPAIGNS_DATABASE_URL=sqlite_url,
        CAMPAIGNS_WORKER_METRICS_PORT=str(port),
    )
    stderr = tmp_path / "worker.err"
    with stderr.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "campaigns"), "worker", env=env, cwd=tmp_path, stderr=errors
        )
    try:

        async def serving() -> None:
            assert process.returncode is None, stderr.read_text()
            try:
                samples = await scrape(f"http://127.0.0.1:{port}/metrics")
            except httpx.HTTPError as error:
                raise AssertionError(f"not serving yet: {error}") from error
            assert value_of(samples, "temporal_worker_start", task_queue=task_queue) == 1
            expected = (await dev_env.client.count_workflows(metrics.NEEDING_ATTENTION_QUERY)).count
            gauges = [s for s in samples if s.named(metrics.NEEDING_ATTENTION)]
            assert [g.value for g in gauges] == [expected], gauges

        await assert_eventually(serving, timeout=60, interval=0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=60)
    assert code == 0, stderr.read_text()
    assert f"http://127.0.0.1:{port}/metrics" in stderr.read_text()  # named in "worker started"
