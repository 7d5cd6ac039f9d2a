"""How fast the distribution pays: recipients per second through DistributionWorkflow.

Runs the real pieces on loopback: the Temporal dev server, the sandbox ledger over HTTP
(uvicorn), the reward activities on a database (SQLite in a temporary directory unless
``--database-url`` is given, e.g. a PostgreSQL URL), then checks the ledger's ground truth.

    .venv/bin/python bench/distribution.py --recipients 20000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.reward_store import ENGAGEMENT, PARTICIPANT
from activities.rewards import RewardActivities
from clients.ledger import LedgerClient
from core.contracts import DistributionInput, RewardTableRequest, distribution_workflow_id_for
from core.db import make_engine, session_factory
from core.devserver import DEV_SERVER_FAST_ARGS, find_binary
from core.migrate import upgrade
from core.models import Campaign, Owner
from core.temporal import DATA_CONVERTER
from sandbox.app import create_app
from workflows.distribution import DistributionWorkflow

RATE = 10


def seed(engine: Engine, recipients: int) -> tuple[str, int]:
    """An awareness campaign where each of ``recipients`` registered users liked once."""
    tag = uuid.uuid4().hex[:8]
    budget = RATE * recipients
    spec = {
        "name": "bench",
        "type": "awareness",
        "budget": budget,
        "rewards": {"like": RATE},
        "first_post": {"text": "first"},
        "second_post": {"text": "second"},
        "duration_seconds": 3600,
    }
    with Session(engine) as session:
        owner = Owner(name="bench", x_user_id=f"{tag}-owner", wallet=f"{tag}-owner")
        session.add(owner)
        session.flush()
        campaign = Campaign(
            owner_id=owner.id,
            name="bench",
            type="awareness",
            asset="native",
            budget=budget,
            spec=spec,
        )
        session.add(campaign)
        session.commit()
        campaign_id = campaign.id
    users = [f"{tag}-u{i:07d}" for i in range(recipients)]
    now, t0 = datetime.now(UTC), datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(PARTICIPANT),
            [{"x_user_id": u, "wallet": f"w-{u}", "updated_at": now} for u in users],
        )
        connection.execute(
            insert(ENGAGEMENT),
            [
                {
                    "campaign_id": campaign_id,
                    "x_user_id": u,
                    "kind": "like",
                    "first_seen_at": t0 + timedelta(seconds=i),
                }
                for i, u in enumerate(users)
            ],
        )
    return campaign_id, budget


async def serve_sandbox() -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):  # up to 20 s
        if server.started and server.servers:
            break
        await asyncio.sleep(0.05)
    else:
        raise SystemExit("the sandbox did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def run(recipients: int, batch_size: int, database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    server, server_task, url = await serve_sandbox()
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_extra_args=list(DEV_SERVER_FAST_ARGS),
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            ledger = LedgerClient(http, f"{url}/ledger")
            activities = RewardActivities(session_factory(engine), ledger)
            started = time.perf_counter()
            campaign_id, budget = seed(engine, recipients)
            seeded = time.perf_counter()
            table = await ActivityEnvironment().run(
                activities.build_reward_table, RewardTableRequest(campaign_id, budget)
            )
            built = time.perf_counter()
            owner = f"owner-{campaign_id}"
            await http.post(f"{url}/sandbox/accounts", json={"account": owner, "balance": budget})
            escrow = await ledger.create_escrow(
                f"{campaign_id}:escrow", campaign_id=campaign_id, owner_wallet=owner, asset="native"
            )
            await ledger.lock(f"{campaign_id}:lock", escrow_id=escrow.id, amount=budget)
            task_queue = f"bench-{uuid.uuid4()}"
            async with Worker(
                env.client,
                task_queue=task_queue,
                workflows=[DistributionWorkflow],
                activities=[activities.pay_batch],
            ):
                paying = time.perf_counter()
                result = await env.client.execute_workflow(
                    DistributionWorkflow.run,
                    DistributionInput(campaign_id, escrow.id, "", batch_size=batch_size),
                    id=distribution_workflow_id_for(campaign_id),
                    task_queue=task_queue,
                )
                paid = time.perf_counter()
            truth = (await http.get(f"{url}/sandbox/truth/transfers")).json()["transfers"]
            payouts = [t for t in truth if t["kind"] == "payout"]
    finally:
        await env.shutdown()
        server.should_exit = True
        await server_task
        engine.dispose()

    distinct = len({t["key"] for t in payouts})
    print(f"database            {engine.url.get_backend_name()}")
    print(f"recipients          {table.recipients} (earned {table.earned} of {budget})")
    print(f"seed                {seeded - started:8.2f} s")
    print(f"build_reward_table  {built - seeded:8.2f} s")
    print(f"distribution        {paid - paying:8.2f} s  ({batch_size} per batch)")
    print(f"throughput          {result.progress.paid / (paid - paying):8.0f} recipients/s")
    print(f"ground truth        {len(payouts)} payouts, {distinct} distinct keys")
    if not (len(payouts) == distinct == result.progress.paid == recipients):
        raise SystemExit("ground truth does not show exactly one payout per recipient")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        asyncio.run(run(args.recipients, args.batch_size, url))


if __name__ == "__main__":
    main()
