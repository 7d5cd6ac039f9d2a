"""The whole product, end to end: `campaigns demo` drives a real campaign through the API (real
worker, real CampaignWorkflow, the sandbox over HTTP, the dev server) to `closed`; the sandbox's
ground truth must show each reward paid once and the rest refunded."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from api.main import create_app
from cli.main import app as cli_app
from core.db import make_engine, session_factory
from core.migrate import upgrade
from sandbox.app import create_app as create_sandbox
from tests.api.conftest import OPERATOR_KEY, api_settings
from tests.helpers import serve_asgi
from worker import build_worker

pytestmark = pytest.mark.slow


async def test_demo_runs_a_whole_campaign_to_closed(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
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
                # The app-only token for reads (CAMPAIGNS_X_BEARER_TOKEN); posts use the owner's.
                x_bearer_token="app-only-token",
                activity_executor=executor,
            )
            async with worker, serve_asgi(create_app(settings, live_poll_interval=0.5)) as api_url:
                argv = [
                    "demo",
                    "--api-url",
                    api_url,
                    "--api-key",
                    OPERATOR_KEY,
                    "--sandbox-url",
                    sandbox_url,
                    "--participants",
                    "300",
                    "--engagers",
                    "400",
                ]
                result = await asyncio.wait_for(
                    asyncio.to_thread(lambda: CliRunner().invoke(cli_app, argv)), 240
                )
                assert result.exit_code == 0, (result.stdout, result.stderr)
                campaign_id = result.stdout.split("ended closed")[0].split("campaign ")[-1].strip()
                headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
                async with httpx.AsyncClient(base_url=api_url, headers=headers) as api:
                    status = (await api.get(f"/v1/campaigns/{campaign_id}/status")).json()
                    timeline = (await api.get(f"/v1/campaigns/{campaign_id}/timeline")).json()
                transfers = (await http.get(f"{sandbox_url}/sandbox/truth/transfers")).json()
    engine.dispose()

    assert status["status"] == "closed", status
    rewards, budget = status["rewards"], status["budget"]
    assert rewards["paid"] > 0
    assert rewards["ineligible"] > 0  # engagers beyond the 300 registered participants
    assert rewards["failed"] == rewards["pending"] == 0
    mine = [t for t in transfers["transfers"] if t["key"].startswith(f"{campaign_id}:")]
    payouts = [t for t in mine if t["kind"] == "payout"]
    assert len(payouts) == rewards["paid"]
    assert max(Counter(t["to"] for t in payouts).values()) == 1  # each recipient paid once
    assert sum(t["amount"] for t in payouts) == rewards["paid_amount"]
    refunds = [t for t in mine if t["kind"] == "refund"]
    assert sum(t["amount"] for t in refunds) == budget["refunded"]
    assert budget["refunded"] + rewards["paid_amount"] == budget["total"]
    kinds = [e["status"] for e in timeline["events"]]
    assert kinds[0] == "draft"
    assert kinds[-1] == "closed"
    assert uuid.UUID(hex=campaign_id)
