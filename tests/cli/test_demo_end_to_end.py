"""The whole product, end to end: `campaigns demo` in an 80x24 terminal (a real pty) drives a
real campaign through the API (real worker, real CampaignWorkflow, the dev server) to
`closed`, paying through the sandbox's escrow contract over JSON-RPC as `campaigns dev` does.

The contract's own events must show each reward paid once, the rest refunded and the escrow
closed; the demo must say so itself, and fit 80 columns (IDs whole, bars drawn)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from cli.render import MIN_BAR_WIDTH
from clients.evm_ledger import EvmLedger
from core.config import Settings
from core.db import make_engine, session_factory
from core.migrate import upgrade
from sandbox.app import create_app as create_sandbox
from tests.api.conftest import OPERATOR_KEY, api_settings
from tests.cli.pty_terminal import PtyRun, widest
from tests.helpers import serve_asgi
from worker import build_worker, make_ledger

pytestmark = pytest.mark.slow

COLUMNS = 80
BAR_ROW = re.compile(r"^(time|budget|payouts)\s+([━─]+)")
ENDED = re.compile(r"^campaign ([0-9a-f]{32}) ended closed$")
PARTICIPANTS, ENGAGERS = 60, 90


async def test_the_demo_runs_a_campaign_on_the_contract_to_closed_in_80_columns(
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
            chain = Settings(ledger="evm", evm_rpc_url=f"{sandbox_url}/evm")
            ledger = await make_ledger(chain, http, session_factory(engine))
            assert isinstance(ledger, EvmLedger)
            worker = build_worker(
                dev_env.client,
                task_queue=settings.task_queue,
                sessions=session_factory(engine),
                http=http,
                x_base_url=sandbox_url,
                ledger_base_url=f"{sandbox_url}/ledger",
                # The app-only token for reads (CAMPAIGNS_X_BEARER_TOKEN); posts use the owner's.
                x_bearer_token="app-only-token",
                ledger=ledger,
                activity_executor=executor,
            )
            async with worker, serve_asgi(create_app(settings, live_poll_interval=0.5)) as api_url:
                argv = ["demo", "--api-url", api_url, "--api-key", OPERATOR_KEY]
                argv += ["--sandbox-url", sandbox_url]
                argv += ["--participants", str(PARTICIPANTS), "--engagers", str(ENGAGERS)]
                demo = PtyRun(argv, cwd=tmp_path, columns=COLUMNS)
                code = await asyncio.to_thread(demo.wait, 240)
                lines = demo.lines()
                ended = [m.group(1) for m in map(ENDED.match, lines) if m]
                assert len(ended) == 1, "\n".join(lines)
                campaign_id = ended[0]
                headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
                async with httpx.AsyncClient(base_url=api_url, headers=headers) as api:
                    status = (await api.get(f"/v1/campaigns/{campaign_id}/status")).json()
                    timeline = (await api.get(f"/v1/campaigns/{campaign_id}/timeline")).json()
                truth = f"{sandbox_url}/sandbox/truth"
                chain_events = (await http.get(f"{truth}/chain?campaign_id={campaign_id}")).json()
                transfers = (await http.get(f"{truth}/transfers")).json()["transfers"]
            await ledger.aclose()
    engine.dispose()

    # the terminal: exit 0, nothing over 80 columns or cut, the ID whole, the bars drawn
    assert code == 0, "\n".join(lines)
    assert widest(lines) <= COLUMNS, "\n".join(line for line in lines if len(line) > COLUMNS)
    assert not any("…" in line for line in lines), "\n".join(lines)
    assert any(line.startswith(f"campaign {campaign_id} published") for line in lines), lines
    assert any(line.startswith(f"{campaign_id}  closed") for line in lines), lines
    assert any(campaign_id in line for line in lines if line.startswith("next: campaigns show"))
    bars = {m.group(1): m.group(2) for m in map(BAR_ROW.match, lines) if m}
    assert sorted(bars) == ["budget", "payouts", "time"], lines
    assert all(len(bar) >= MIN_BAR_WIDTH for bar in bars.values()), bars

    # the campaign, as the API tells it
    assert status["status"] == "closed", status
    rewards, budget = status["rewards"], status["budget"]
    assert rewards["paid"] > 0
    assert rewards["ineligible"] > 0  # engagers beyond the registered participants
    assert rewards["failed"] == rewards["pending"] == 0
    assert budget["refunded"] + rewards["paid_amount"] == budget["total"]
    kinds = [e["status"] for e in timeline["events"]]
    assert (kinds[0], kinds[-1]) == ("draft", "closed")

    # what the contract did, from its own events: each reward once, the rest back, closed
    events = chain_events["events"]
    payouts = [e for e in events if e["kind"] == "payout"]
    assert len(payouts) == rewards["paid"]
    assert max(Counter(e["to"] for e in payouts).values()) == 1  # each recipient paid once
    assert sum(e["amount"] for e in payouts) == rewards["paid_amount"]
    assert [e["amount"] for e in events if e["kind"] == "lock"] == [budget["total"]]
    assert [e["amount"] for e in events if e["kind"] == "refund"] == [budget["refunded"]]
    assert [e["kind"] for e in events][-1] == "close"
    assert not [t for t in transfers if t["key"].startswith(f"{campaign_id}:")]  # no HTTP ledger
    # and the demo read the same truth and said so
    said = f"on the escrow contract: locked {budget['total']:,}, refunded {budget['refunded']:,}"
    assert f"{said}, closed" in lines, lines
    assert (
        f"  {len(payouts)} payouts ({rewards['paid_amount']:,}) to {len(payouts)} wallets" in lines
    )
