"""The Ledger port's promises, run alike on both adapters over real HTTP: the HTTP ledger on
the sandbox's ``/ledger``, and ``EvmLedger`` (as the worker builds it, ``make_ledger`` with
``CAMPAIGNS_LEDGER=evm``) on the sandbox's JSON-RPC ``/evm``.

An owner's "funds" are what the ledger may take from them: a funded wallet on the HTTP
ledger; on the chain, the test token the owner approved for the escrow contract (a lock pulls
it with ``transferFrom``). Where the adapters' semantics differ the test says so, by name.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from clients.evm_ledger import EvmLedger
from clients.ports import InsufficientFunds, Ledger, PermanentError, TransferOrder
from core.config import Settings
from core.db import make_engine, session_factory
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.sandbox.world import SandboxWorld, running_sandbox
from worker import make_ledger


class PortWorld(Protocol):
    kind: str
    ledger: Ledger

    @property
    def owner(self) -> str: ...
    @property
    def asset(self) -> str: ...

    async def fund_owner(self, amount: int) -> None: ...
    def wallet(self) -> str: ...
    async def balance(self, wallet: str) -> int: ...
    async def owner_spent(self) -> int: ...


@dataclass
class HttpWorld:
    world: SandboxWorld
    ledger: Ledger
    kind: str = "http"
    owner: str = "owner"
    asset: str = "native"
    funded: int = 0

    def __post_init__(self) -> None:
        self._names = itertools.count(1)

    async def fund_owner(self, amount: int) -> None:
        self.funded = await self.world.fund(self.owner, amount)

    def wallet(self) -> str:
        return f"w{next(self._names)}"

    async def balance(self, wallet: str) -> int:
        return await self.world.balance(wallet)

    async def owner_spent(self) -> int:
        return self.funded - await self.world.balance(self.owner)


@dataclass
class EvmWorld:
    chain: SandboxChain
    ledger: Ledger
    kind: str = "evm"
    held_at_start: int = 0

    @property
    def owner(self) -> str:
        return str(self.chain.info["owner_wallets"][0])

    @property
    def asset(self) -> str:
        return str(self.chain.info["token_address"])

    async def fund_owner(self, amount: int) -> None:
        self.held_at_start = await self.chain.token_balance(self.owner)
        await self.chain.approve(self.owner, amount)

    def wallet(self) -> str:
        return fresh_addresses(1)[0]

    async def balance(self, wallet: str) -> int:
        return await self.chain.token_balance(wallet)

    async def owner_spent(self) -> int:
        return self.held_at_start - await self.chain.token_balance(self.owner)


@pytest.fixture(params=["http", "evm"])
async def port(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[PortWorld]:
    async with running_sandbox() as world:
        if request.param == "http":
            yield HttpWorld(world, world.ledger())
            return
        engine = make_engine(sqlite_url, pool_size=4)
        settings = Settings.model_validate({"ledger": "evm", "evm_rpc_url": f"{world.url}/evm"})
        ledger = await make_ledger(settings, world.http, session_factory(engine))
        assert isinstance(ledger, EvmLedger)
        try:
            async with sandbox_chain(world) as chain:
                yield EvmWorld(chain, ledger)
        finally:
            await ledger.aclose()
            engine.dispose()


async def opened(port: PortWorld, campaign: str = "c1", funds: int = 1_000) -> str:
    await port.fund_owner(funds)
    escrow = await port.ledger.create_escrow(
        f"{campaign}:escrow", campaign_id=campaign, owner_wallet=port.owner, asset=port.asset
    )
    return escrow.id


async def test_an_escrow_lives_from_create_to_close(port: PortWorld) -> None:
    ledger = port.ledger
    escrow_id = await opened(port)
    lock = await ledger.lock("c1:lock", escrow_id=escrow_id, amount=600)
    first, second = port.wallet(), port.wallet()
    paid = await ledger.transfer_batch(
        escrow_id,
        [TransferOrder("c1:payout:1", first, 100), TransferOrder("c1:payout:2", second, 50)],
    )
    refund = await ledger.refund("c1:refund", escrow_id=escrow_id)
    closed = await ledger.close("c1:close", escrow_id=escrow_id)

    assert (lock.kind, lock.amount) == ("lock", 600)
    assert [(r.kind, r.key, r.amount) for r in paid] == [
        ("payout", "c1:payout:1", 100),
        ("payout", "c1:payout:2", 50),
    ]
    assert (refund.kind, refund.amount) == ("refund", 450)
    assert closed.closed and closed.balance == 0 and closed.paid == 150 and closed.refunded == 450
    assert (await port.balance(first), await port.balance(second)) == (100, 50)
    assert await port.owner_spent() == 150
    assert await ledger.lookup("c1:payout:2") == paid[1]
    assert await ledger.lookup("c1:payout:3") is None


async def test_repeated_keys_answer_the_first_receipt_and_move_nothing_more(
    port: PortWorld,
) -> None:
    ledger = port.ledger
    escrow_id = await opened(port)
    again = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet=port.owner, asset=port.asset
    )
    assert again.id == escrow_id
    first = await ledger.lock("c1:lock", escrow_id=escrow_id, amount=300)
    assert await ledger.lock("c1:lock", escrow_id=escrow_id, amount=300) == first
    wallet = port.wallet()
    payout = [TransferOrder("c1:payout:1", wallet, 10)]
    receipts = await ledger.transfer_batch(escrow_id, payout)
    assert await ledger.transfer_batch(escrow_id, payout) == receipts
    refund = await ledger.refund("c1:refund", escrow_id=escrow_id)
    assert await ledger.refund("c1:refund", escrow_id=escrow_id) == refund
    assert await port.balance(wallet) == 10
    assert await port.owner_spent() == 10
    escrow = await ledger.get_escrow(escrow_id)
    assert (escrow.locked, escrow.paid, escrow.refunded) == (300, 10, 290)


async def test_a_lock_under_a_new_key_tops_up(port: PortWorld) -> None:
    ledger = port.ledger
    escrow_id = await opened(port)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=300)
    top_up = await ledger.lock("c1:lock:2", escrow_id=escrow_id, amount=200)
    assert await ledger.lock("c1:lock:2", escrow_id=escrow_id, amount=200) == top_up
    escrow = await ledger.get_escrow(escrow_id)
    assert (escrow.locked, escrow.balance) == (500, 500)
    assert await port.owner_spent() == 500


async def test_a_lock_beyond_the_owners_funds_is_refused_and_moves_nothing(
    port: PortWorld,
) -> None:
    escrow_id = await opened(port, funds=100)
    with pytest.raises(InsufficientFunds):
        await port.ledger.lock("c1:lock", escrow_id=escrow_id, amount=101)
    assert (await port.ledger.get_escrow(escrow_id)).locked == 0
    assert await port.owner_spent() == 0
    assert await port.ledger.lookup("c1:lock") is None


async def test_transfers_beyond_the_escrow_are_refused_whole(port: PortWorld) -> None:
    ledger = port.ledger
    escrow_id = await opened(port, funds=100)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=100)
    first, second = port.wallet(), port.wallet()
    with pytest.raises(InsufficientFunds):
        await ledger.transfer_batch(
            escrow_id,
            [TransferOrder("c1:payout:1", first, 60), TransferOrder("c1:payout:2", second, 41)],
        )
    assert (await ledger.get_escrow(escrow_id)).balance == 100
    assert (await port.balance(first), await port.balance(second)) == (0, 0)


async def test_close_is_refused_while_the_escrow_holds_a_balance(port: PortWorld) -> None:
    escrow_id = await opened(port)
    await port.ledger.lock("c1:lock", escrow_id=escrow_id, amount=100)
    with pytest.raises(PermanentError) as refused:
        await port.ledger.close("c1:close", escrow_id=escrow_id)
    assert refused.value.status == 409
    assert not (await port.ledger.get_escrow(escrow_id)).closed


async def test_a_closed_escrow_takes_and_pays_nothing_more(port: PortWorld) -> None:
    ledger = port.ledger
    escrow_id = await opened(port)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=100)
    await ledger.refund("c1:refund", escrow_id=escrow_id)
    closed = await ledger.close("c1:close", escrow_id=escrow_id)
    assert await ledger.close("c1:close", escrow_id=escrow_id) == closed  # a repeat is fine
    refusals: list[Any] = [
        ledger.lock("c1:lock:2", escrow_id=escrow_id, amount=10),
        ledger.transfer_batch(escrow_id, [TransferOrder("c1:payout:9", port.wallet(), 1)]),
        ledger.close("c1:close:2", escrow_id=escrow_id),
    ]
    for refusal in refusals:
        with pytest.raises(PermanentError) as refused:
            await refusal
        assert refused.value.status == 409
    assert await port.owner_spent() == 0


async def test_a_second_refund_under_a_new_key(port: PortWorld) -> None:
    """DIFFERS: the HTTP ledger answers a later refund with a receipt of what is left (0);
    the contract's refund is one-shot, so a new refund key is refused (409). Either way no
    money moves twice; the campaign workflow refunds once, under one key."""
    ledger = port.ledger
    escrow_id = await opened(port)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=100)
    await ledger.refund("c1:refund", escrow_id=escrow_id)
    if port.kind == "http":
        assert (await ledger.refund("c1:refund:2", escrow_id=escrow_id)).amount == 0
    else:
        with pytest.raises(PermanentError) as refused:
            await ledger.refund("c1:refund:2", escrow_id=escrow_id)
        assert refused.value.status == 409
    assert await port.owner_spent() == 0


async def test_one_wallet_under_two_keys(port: PortWorld) -> None:
    """DIFFERS: the HTTP ledger pays per key, so one wallet under two keys is paid twice; the
    contract pays a wallet at most once per campaign and refuses the second key
    (``payout-refused``), leaving the escrow with its amount. Rewards give each engager one
    payout row (one wallet, one key), so the campaign never asks for both."""
    ledger = port.ledger
    escrow_id = await opened(port)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=100)
    wallet = port.wallet()
    twice = [TransferOrder("c1:payout:a", wallet, 10), TransferOrder("c1:payout:b", wallet, 10)]
    if port.kind == "http":
        assert len(await ledger.transfer_batch(escrow_id, twice)) == 2
        assert await port.balance(wallet) == 20
        return
    with pytest.raises(PermanentError) as refused:
        await ledger.transfer_batch(escrow_id, twice)
    assert refused.value.type == "payout-refused" and "c1:payout:b" in str(refused.value)
    assert await port.balance(wallet) == 10
    assert (await ledger.lookup("c1:payout:a")) is not None
    assert (await ledger.get_escrow(escrow_id)).balance == 90


async def test_concurrent_repeats_of_one_batch_pay_each_key_once(port: PortWorld) -> None:
    ledger = port.ledger
    escrow_id = await opened(port)
    await ledger.lock("c1:lock", escrow_id=escrow_id, amount=1_000)
    orders = [TransferOrder(f"c1:payout:{n}", port.wallet(), 7) for n in range(4)]
    answers = await asyncio.gather(*(ledger.transfer_batch(escrow_id, orders) for _ in range(3)))
    assert answers[0] == answers[1] == answers[2]
    assert [await port.balance(order.to) for order in orders] == [7] * 4
    assert (await ledger.get_escrow(escrow_id)).paid == 28
