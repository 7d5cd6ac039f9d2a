"""``campaigns reconcile`` against drift made for real: workflows on the dev server (one ended
behind its row's back, one terminated, one still running, one that never existed), effect
rows left open whose effects did or did not land at the sandbox's ledger and X. A dry run
changes nothing, a real run repairs what is safe, a second run finds nothing more."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from clients.ledger import LedgerClient
from clients.x_api import XApiClient
from core.contracts import SIGNAL_CANCEL, workflow_id_for
from core.models import Campaign, Effect, Owner
from tests.helpers import assert_eventually
from tests.workflows.campaign_stack import CampaignStack, awareness_spec, campaign_stack

pytestmark = [pytest.mark.dev_server, pytest.mark.slow]

LONG_AGO = datetime.now(UTC) - timedelta(hours=1)


def run_reconcile(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "cli", "reconcile", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


async def reconcile_json(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    done = await asyncio.to_thread(run_reconcile, env, "--json", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    findings: list[dict[str, Any]] = json.loads(done.stdout)["findings"]
    return findings


def add_effect(
    engine: Engine,
    campaign_id: str,
    suffix: str,
    kind: str,
    state: str,
    *,
    request: dict[str, Any] | None = None,
    stale: bool = True,
) -> str:
    key = f"{campaign_id}:{suffix}"
    with Session(engine) as session:
        when = LONG_AGO if stale else datetime.now(UTC)
        session.add(
            Effect(
                key=key,
                campaign_id=campaign_id,
                kind=kind,
                state=state,
                request=request or {},
                attempts=0 if state == "prepared" else 1,
                created_at=when,
                updated_at=when,
            )
        )
        session.commit()
    return key


def set_row_status(engine: Engine, campaign_id: str, status: str) -> None:
    with Session(engine) as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(status=status))  # type: ignore[arg-type]
        session.commit()


def snapshot(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with Session(engine) as session:
        campaigns = [
            (c.id, c.status, json.dumps(c.last_status, sort_keys=True), c.updated_at)
            for c in session.exec(select(Campaign)).all()
        ]
        effects = [
            (e.key, e.state, json.dumps(e.result), e.error, e.attempts, e.updated_at)
            for e in session.exec(select(Effect)).all()
        ]
        return sorted(campaigns), sorted(effects)


async def scheduled(stack: CampaignStack, campaign_id: str) -> WorkflowHandle[Any, Any]:
    """Published to start in an hour: its workflow runs and waits on a durable timer."""
    handle = await stack.publish(campaign_id, start_at=datetime.now(UTC) + timedelta(hours=1))

    def row_scheduled() -> None:
        assert stack.campaign(campaign_id).status == "scheduled"

    await assert_eventually(row_scheduled, timeout=30)
    return handle


def findings_by_subject(findings: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {finding["subject"]: finding for finding in findings}


async def test_reconcile_finds_drift_dry_run_changes_nothing_real_run_repairs_it(
    dev_env: WorkflowEnvironment, engine: Engine
) -> None:
    client: Client = dev_env.client
    async with campaign_stack(client, engine) as stack:
        async with stack.worker():
            # Ended behind its row's back: cancelled while scheduled, then the row's last
            # write lost (it says scheduled again).
            ended = stack.draft(awareness_spec())
            handle = await scheduled(stack, ended)
            await handle.signal(SIGNAL_CANCEL, "changed our minds")
            assert (await handle.result())["status"] == "cancelled"
            set_row_status(engine, ended, "scheduled")
            # Terminated by an operator: the workflow never wrote its end.
            killed = stack.draft(awareness_spec())
            await (await scheduled(stack, killed)).terminate("operator pulled the plug")
            # Running: its row disagrees, but a running workflow resolves its own rows.
            running = stack.draft(awareness_spec())
            running_handle = await scheduled(stack, running)
        set_row_status(engine, running, "running")
        # Published, but Temporal has never heard of its workflow.
        missing = stack.draft(awareness_spec())
        with Session(engine) as session:
            row = session.get(Campaign, missing)
            assert row is not None
            row.status, row.workflow_id = "running", workflow_id_for(missing)
            session.add(row)
            session.commit()
            owner = session.get(Owner, stack.owner_id)
            assert owner is not None and owner.x_access_token is not None
            owner_token = owner.x_access_token

        # What the terminated campaign's activities left open, and what landed in the world.
        ledger = LedgerClient(stack.http, f"{stack.base_url}/ledger")
        x = XApiClient(stack.http, stack.base_url, stack.app_token)
        escrow_key = add_effect(engine, killed, "escrow", "escrow", "unknown")
        escrow = await ledger.create_escrow(
            escrow_key, campaign_id=killed, owner_wallet="wallet-owner", asset="native"
        )
        lock_key = add_effect(engine, killed, "lock", "lock", "unknown")
        text = f"Killed campaign's first post {killed}"
        first_key = add_effect(
            engine,
            killed,
            "first-post",
            "first-post",
            "unknown",
            request={"text": text, "reply_to": None, "media_ids": []},
        )
        post = await x.create_post(text, token=owner_token)
        second_key = add_effect(
            engine,
            killed,
            "second-post",
            "second-post",
            "prepared",
            request={"text": f"{text} terms", "reply_to": post.id},
        )
        recent_key = add_effect(engine, killed, "refund", "refund", "unknown", stale=False)
        running_key = add_effect(engine, running, "escrow", "escrow", "unknown")

        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
        env.update(
            CAMPAIGNS_DATABASE_URL=str(engine.url.render_as_string(hide_password=False)),
            CAMPAIGNS_TEMPORAL_ADDRESS=client.service_client.config.target_host,
            CAMPAIGNS_X_BASE_URL=stack.base_url,
            CAMPAIGNS_X_BEARER_TOKEN=stack.app_token or "",
            CAMPAIGNS_LEDGER_BASE_URL=f"{stack.base_url}/ledger",
            CAMPAIGNS_LOG_LEVEL="WARNING",
        )
        before = snapshot(engine)
        planned = findings_by_subject(await reconcile_json(env, "--dry-run"))
        assert snapshot(engine) == before, "a dry run changed rows"
        expected = {
            workflow_id_for(ended): ("campaign-status", "would set cancelled"),
            workflow_id_for(killed): ("campaign-status", "would set failed"),
            workflow_id_for(missing): ("missing-workflow", "reported"),
            escrow_key: ("stale-effect", "would mark done"),
            lock_key: ("stale-effect", "would mark failed"),
            first_key: ("stale-effect", "would mark done"),
            second_key: ("stale-effect", "would mark failed"),
        }
        assert set(planned) == set(expected), planned
        for subject, (kind, action) in expected.items():
            assert planned[subject]["kind"] == kind
            assert planned[subject]["action"].startswith(action), planned[subject]
            assert planned[subject]["repaired"] is False
        assert recent_key not in planned and running_key not in planned

        repaired = findings_by_subject(await reconcile_json(env, "--older-than", "15m"))
        assert set(repaired) == set(expected)
        assert [s for s, f in repaired.items() if not f["repaired"]] == [workflow_id_for(missing)]
        assert stack.campaign(ended).status == "cancelled"
        killed_row = stack.campaign(killed)
        assert killed_row.status == "failed"
        assert killed_row.last_status is not None
        assert killed_row.last_status["failure"] == "workflow execution terminated"
        assert stack.campaign(running).status == "running"  # its workflow's business
        assert stack.campaign(missing).status == "running"  # reported only
        with Session(engine) as session:
            state = {e.key: (e.state, e.result) for e in session.exec(select(Effect)).all()}
        assert state[escrow_key] == ("done", {"escrow_id": escrow.id})
        assert state[lock_key] == ("failed", None)
        assert state[first_key] == ("done", {"post_id": post.id})
        assert state[second_key] == ("failed", None)
        assert state[recent_key] == ("unknown", None)
        assert state[running_key] == ("unknown", None)

        again = await reconcile_json(env)
        assert [f["subject"] for f in again] == [workflow_id_for(missing)]
        failed_missing = await reconcile_json(env, "--fail-missing")
        assert [(f["subject"], f["repaired"]) for f in failed_missing] == [
            (workflow_id_for(missing), True)
        ]
        assert stack.campaign(missing).status == "failed"
        assert await reconcile_json(env, "--fail-missing") == []
        final = await asyncio.to_thread(run_reconcile, env)
        assert final.returncode == 0 and "no drift found" in final.stdout, final.stdout
        await running_handle.terminate("test over")
