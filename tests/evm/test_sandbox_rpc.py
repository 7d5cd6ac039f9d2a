"""The sandbox speaks Ethereum JSON-RPC at ``/evm`` over real HTTP: web3 and the EVM ledger
use it as they would a node, and what is not JSON-RPC gets a JSON-RPC error, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from clients.ports import InsufficientFunds, PermanentError, TransferOrder
from sandbox.evm_truth import campaign_hash, key_hash
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.sandbox.world import SandboxWorld


@pytest.fixture
async def chain(world: SandboxWorld) -> AsyncIterator[SandboxChain]:
    async with sandbox_chain(world) as connected:
        yield connected


async def test_the_info_names_a_chain_its_contracts_and_the_service(chain: SandboxChain) -> None:
    info = chain.info
    assert info["chain_id"] == await chain.w3.eth.chain_id
    for contract in ("escrow_address", "token_address"):
        assert await chain.w3.eth.get_code(info[contract]) != b""  # deployed, with code
    assert await chain.w3.eth.get_balance(info["service_address"]) > 10**18
    balances = [await chain.token_balance(owner) for owner in info["owner_wallets"]]
    assert len(balances) >= 2 and all(balance > 0 for balance in balances)


async def test_an_escrow_lifecycle_through_the_evm_ledger_over_http(chain: SandboxChain) -> None:
    ledger = chain.ledger()
    owner = chain.info["owner_wallets"][0]
    before = await chain.token_balance(owner)
    await chain.approve(owner, 600)
    escrow = await ledger.create_escrow(
        "c1:escrow", campaign_id="c1", owner_wallet=owner, asset=chain.info["token_address"]
    )
    lock = await ledger.lock("c1:lock", escrow_id=escrow.id, amount=600)
    first, second = fresh_addresses(2)
    paid = await ledger.transfer_batch(
        escrow.id,
        [TransferOrder("c1:payout:1", first, 100), TransferOrder("c1:payout:2", second, 50)],
    )
    refund = await ledger.refund("c1:refund", escrow_id=escrow.id)
    closed = await ledger.close("c1:close", escrow_id=escrow.id)

    assert (lock.kind, lock.amount) == ("lock", 600)
    assert [(r.kind, r.amount) for r in paid] == [("payout", 100), ("payout", 50)]
    assert (refund.kind, refund.amount) == ("refund", 450)
    assert closed.closed and closed.paid == 150 and closed.refunded == 450 and closed.balance == 0
    assert await chain.token_balance(first) == 100 and await chain.token_balance(second) == 50
    assert await chain.token_balance(owner) == before - 150
    assert await ledger.lookup("c1:payout:2") == paid[1]

    # the sandbox's truth is the contract's own events, of this campaign only
    other = await ledger.create_escrow(
        "c2:escrow", campaign_id="c2", owner_wallet=owner, asset="native"
    )
    truth = await chain.world.control("GET", "/truth/chain?campaign_id=c1")
    kinds = [(e["kind"], e["amount"], e["to"]) for e in truth["events"]]
    assert kinds == [
        ("escrow", None, owner),
        ("lock", 600, None),
        ("payout", 100, first),
        ("payout", 50, second),
        ("batch", 150, None),
        ("refund", 450, owner),
        ("close", None, None),
    ]
    assert truth["events"][1]["key"] == key_hash("c1:lock")
    assert {e["campaign"] for e in truth["events"]} == {campaign_hash("c1")}
    everything = (await chain.world.control("GET", "/truth/chain"))["events"]
    assert [e["kind"] for e in everything if e["campaign"] == campaign_hash(other.id)] == ["escrow"]


async def test_a_batch_answers_each_request_by_its_id(world: SandboxWorld) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_blockNumber"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 3, "method": "eth_noSuchMethod", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_getBalance", "params": ["zz", "latest"]},
        "not a request",
    ]
    response = await world.http.post(f"{world.url}/evm", json=batch)
    assert response.status_code == 200
    answers = response.json()
    by_id = {answer["id"]: answer for answer in answers if answer["id"] is not None}
    assert set(by_id) == {1, "two", 3, 4} and len(answers) == 5
    chain_id = (await world.control("GET", "/evm"))["chain_id"]
    assert by_id[1]["result"] == hex(chain_id)  # quantities as hex, as nodes send them
    assert int(by_id["two"]["result"], 16) >= 0
    assert by_id[3]["error"]["code"] == -32601
    assert by_id[4]["error"]["code"] == -32602
    assert [a["error"]["code"] for a in answers if a["id"] is None] == [-32600]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": {"a": 1}}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "testing_timeTravel", "params": [1]}', -32601),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x00"]}',
            None,
        ),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{"to": 5}, "latest"]}',
            None,
        ),
    ],
)
async def test_what_is_not_a_good_request_gets_a_json_rpc_error_not_a_500(
    world: SandboxWorld, body: bytes, code: int | None
) -> None:
    response = await world.http.post(
        f"{world.url}/evm", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code


async def test_a_refused_call_reports_the_contracts_reason(chain: SandboxChain) -> None:
    """A revert comes back as geth reports it (code 3, the reason as Error(string) data), so
    the adapter tells 'insufficient escrow' (the port's InsufficientFunds) from a fault."""
    ledger = chain.ledger()
    owner = chain.info["owner_wallets"][1]
    await chain.approve(owner, 10)
    escrow = await ledger.create_escrow(
        "c2:escrow", campaign_id="c2", owner_wallet=owner, asset=chain.info["token_address"]
    )
    await ledger.lock("c2:lock", escrow_id=escrow.id, amount=10)
    [wallet] = fresh_addresses(1)
    with pytest.raises(InsufficientFunds) as refused:
        await ledger.transfer_batch(escrow.id, [TransferOrder("c2:payout:1", wallet, 11)])
    assert refused.value.detail == "insufficient escrow"
    with pytest.raises(PermanentError, match="no such escrow"):
        await ledger.refund("c9:refund", escrow_id="c9")
