"""The sandbox's faults reach its chain (``target: evm``): a node that answers 503s and
JSON-RPC errors, and takes a raw transaction but loses the answer. The EVM ledger, retried
as Temporal retries an activity, still pays each recipient exactly once (by the contract's
own events) and leaves no gap in the service account's nonces."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from eth_typing import HexStr
from web3 import AsyncHTTPProvider
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from clients.evm_ledger import EvmLedger
from clients.evm_transactions import MemoryTransactionStore, StoredTransaction, TransactionSender
from clients.ports import PermanentError, TransferOrder
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.sandbox.world import SandboxWorld

T = TypeVar("T")
RETRY_DEADLINE_SECONDS = 60
PAYOUT_BATCHES = 8  # of two recipients each, sent side by side


@pytest.fixture
async def chain(world: SandboxWorld) -> AsyncIterator[SandboxChain]:
    # web3 retries a failed read (and a raw send) itself, pausing 0.125 s and doubling; from
    # 1 ms here, the test takes seconds (the same retries, only shorter pauses).
    usual = AsyncHTTPProvider("http://127.0.0.1:1").exception_retry_configuration
    assert usual is not None
    quick = ExceptionRetryConfiguration(
        errors=usual.errors, method_allowlist=usual.method_allowlist, backoff_factor=0.001
    )
    async with sandbox_chain(world, exception_retry_configuration=quick) as connected:
        yield connected


class Retries:
    """Calls again what failed with anything but a PermanentError, as an activity's retry
    policy would (a fresh attempt, the same arguments), and counts the failures."""

    def __init__(self) -> None:
        self.failures: Counter[str] = Counter()

    async def until_done(self, attempt: Callable[[], Awaitable[T]]) -> T:
        deadline = time.monotonic() + RETRY_DEADLINE_SECONDS
        while True:
            try:
                return await attempt()
            except PermanentError:
                raise
            except Exception as error:
                self.failures[type(error).__name__] += 1
                if time.monotonic() > deadline:
                    raise


async def test_a_faulty_node_pays_each_recipient_once_with_no_nonce_gap(
    chain: SandboxChain,
) -> None:
    ledger: EvmLedger = chain.ledger(receipt_timeout=10)
    owner = chain.info["owner_wallets"][0]
    escrow = await ledger.create_escrow(
        "f1:escrow", campaign_id="f1", owner_wallet=owner, asset="native"
    )
    await ledger.lock("f1:lock", escrow_id=escrow.id, amount=10_000)
    wallets = fresh_addresses(2 * PAYOUT_BATCHES)
    batches = [
        [TransferOrder(f"f1:payout:{i}", wallets[i], 100 + i) for i in (2 * b, 2 * b + 1)]
        for b in range(PAYOUT_BATCHES)
    ]
    await chain.world.faults(target="evm", error_rate=0.2, lose_response_rate=0.3, seed=5)
    retries = Retries()

    def pay(batch: list[TransferOrder]) -> Callable[[], Awaitable[object]]:
        return lambda: ledger.transfer_batch(escrow.id, batch)

    await asyncio.gather(*(retries.until_done(pay(batch)) for batch in batches))
    refund = await retries.until_done(lambda: ledger.refund("f1:refund", escrow_id=escrow.id))
    await chain.world.clear_faults()

    events = (await chain.world.control("GET", "/truth/chain?campaign_id=f1"))["events"]
    paid = Counter((e["to"], e["amount"]) for e in events if e["kind"] == "payout")
    assert paid == Counter({(wallets[i], 100 + i): 1 for i in range(len(wallets))})
    assert [e["kind"] for e in events if e["kind"] in ("payout-skipped", "payout-failed")] == []
    assert [e["amount"] for e in events if e["kind"] == "refund"] == [refund.amount]
    assert refund.amount == 10_000 - sum(100 + i for i in range(len(wallets)))
    assert sum(retries.failures.values()) >= 5, retries.failures  # the faults did hit

    # Every saved transaction was mined, successfully, on nonces with no gap between them.
    store = chain.store
    assert isinstance(store, MemoryTransactionStore)
    service = chain.info["service_address"]
    nonces = sorted(tx.nonce for tx in store.saved.values())
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
    assert await chain.w3.eth.get_transaction_count(service) == nonces[-1] + 1
    for tx in store.saved.values():
        assert (await chain.w3.eth.get_transaction_receipt(HexStr(tx.hash)))["status"] == 1, tx.key


async def test_an_error_fault_answers_as_a_node_or_its_proxy_would(world: SandboxWorld) -> None:
    await world.faults(target="evm", error_rate=1.0, seed=3)
    answers = []
    for n in range(12):
        request = [{"jsonrpc": "2.0", "id": n, "method": "eth_chainId", "params": []}]
        answers.append(await world.http.post(f"{world.url}/evm", json=request))
    ledger_reply = await world.http.get(f"{world.url}/ledger/escrows/none")
    await world.clear_faults()
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) == {200, 503}, statuses  # both a proxy's 503 and a node's error
    for answer in (a for a in answers if a.status_code == 200):
        [error] = answer.json()
        assert error["error"]["code"] == -32603 and "result" not in error
        assert error["id"] == answers.index(answer)
    assert ledger_reply.status_code == 404  # target evm leaves the ledger alone


async def test_a_transaction_saved_but_never_sent_does_not_block_the_ones_after_it(
    chain: SandboxChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed between saving a signed transaction and sending it, whose activity is
    then never retried (its campaign was cancelled, say): the nonce it holds would block
    every later transaction of the service. The next send fills the gap with the bytes that
    were saved for it (nothing is signed anew), so that effect happens once and nothing
    waits."""
    ledger = chain.ledger()
    service = chain.info["service_address"]
    owner = chain.info["owner_wallets"][0]
    before = await chain.w3.eth.get_transaction_count(service)

    async def killed_after_saving(self: TransactionSender, tx: StoredTransaction) -> None:
        raise RuntimeError("the worker died after saving, before sending")

    with monkeypatch.context() as killed:
        killed.setattr(TransactionSender, "_submit", killed_after_saving)
        with pytest.raises(RuntimeError):
            await ledger.create_escrow(
                "abandoned:escrow", campaign_id="abandoned", owner_wallet=owner, asset="native"
            )
    assert await chain.w3.eth.get_transaction_count(service) == before  # nothing reached it

    later = await ledger.create_escrow(
        "later:escrow", campaign_id="later", owner_wallet=owner, asset="native"
    )
    again = await ledger.create_escrow(  # the abandoned effect, retried after all
        "abandoned:escrow", campaign_id="abandoned", owner_wallet=owner, asset="native"
    )

    assert later.owner_wallet == again.owner_wallet == owner
    assert await chain.w3.eth.get_transaction_count(service) == before + 2  # no third one
    for campaign in ("abandoned", "later"):
        truth = await chain.world.control("GET", f"/truth/chain?campaign_id={campaign}")
        assert [e["kind"] for e in truth["events"]] == ["escrow"]
