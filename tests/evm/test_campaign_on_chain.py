"""One whole campaign through the real worker with ``CAMPAIGNS_LEDGER=evm``: escrow, lock,
payouts and refund on the sandbox's chain, counted from the escrow contract's own events
(not from our database), under time skipping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client
from web3 import AsyncWeb3

from clients.evm_ledger import EvmLedger, chain_id_of
from contracts.artifacts import ESCROW, load_artifact
from core.config import Settings
from core.db import make_engine, session_factory
from core.models import Owner, Participant
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import sandbox_chain
from tests.sandbox.world import SandboxWorld
from tests.workflows.campaign_stack import awareness_spec, campaign_stack, outcome
from tests.workflows.conftest import skipping_client  # noqa: F401  (the fixture)
from tests.workflows.test_campaign_sandbox import first_post_of
from worker import make_ledger


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def test_an_awareness_campaign_pays_on_chain_once_per_engager(
    skipping_client: Client,  # noqa: F811
    sqlite_engine: Engine,
) -> None:
    owner_wallet, wallet_u1, wallet_u2 = fresh_addresses(3)
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        with Session(sqlite_engine) as session:  # on chain, wallets are addresses
            owner = session.get(Owner, stack.owner_id)
            assert owner is not None
            owner.wallet = owner_wallet
            session.add(owner)
            session.add(Participant(x_user_id="u1", wallet=wallet_u1))
            session.add(Participant(x_user_id="u2", wallet=wallet_u2))
            session.commit()
        campaign_id = stack.draft(awareness_spec())
        settings = Settings.model_validate(
            {"ledger": "evm", "evm_rpc_url": f"{stack.base_url}/evm"}
        )
        ledger = await make_ledger(settings, stack.http, session_factory(sqlite_engine))
        assert isinstance(ledger, EvmLedger)
        try:
            async with stack.worker(ledger=ledger):
                handle = await stack.publish(campaign_id)
                first = await first_post_of(stack, handle)
                await stack.engage(
                    first,
                    {"user_id": "u1", "kind": "like"},
                    {"user_id": "u1", "kind": "repost"},
                    {"user_id": "u2", "kind": "like"},
                    {"user_id": "u2", "kind": "reply", "text": "love it"},
                    {"user_id": "stranger", "kind": "like"},
                )
                doc = await outcome(handle)
        finally:
            await ledger.aclose()
        world = SandboxWorld(stack.base_url, stack.http)
        async with sandbox_chain(world) as chain:
            events = await contract_events(chain.w3, chain.info["escrow_address"], campaign_id)
            owner_coin = await chain.w3.eth.get_balance(AsyncWeb3.to_checksum_address(owner_wallet))
        ledger_transfers = await stack.transfers()

    assert doc.status == "closed", doc.failure
    paid = {AsyncWeb3.to_checksum_address(w): 0 for w in (wallet_u1, wallet_u2)}
    for event in events["Paid"]:
        paid[event["args"]["recipient"]] += event["args"]["amount"]
    assert list(paid.values()) == [40, 30]
    assert len(events["Paid"]) == 2  # once each: no second payout under any key
    assert [e["args"]["amount"] for e in events["Locked"]] == [1_000]
    assert [e["args"]["amount"] for e in events["Refunded"]] == [930]
    assert len(events["Closed"]) == 1
    assert owner_coin == 930  # the refund reached the owner's wallet
    assert doc.rewards.paid == 2 and doc.budget.spent == 70 and doc.budget.refunded == 930
    assert ledger_transfers == []  # nothing went through the HTTP ledger


async def contract_events(
    w3: AsyncWeb3[Any], escrow_address: str, campaign_id: str
) -> dict[str, list[Any]]:
    """The escrow's events of this campaign, read from the chain's logs."""
    escrow = w3.eth.contract(
        address=AsyncWeb3.to_checksum_address(escrow_address),
        abi=load_artifact(ESCROW).abi,
    )
    campaign = chain_id_of(campaign_id)
    found: dict[str, list[Any]] = {}
    for name in ("Locked", "Paid", "Refunded", "Closed"):
        logs = await getattr(escrow.events, name).get_logs(from_block=0)
        found[name] = [log for log in logs if log["args"]["campaign"] == campaign]
    return found
