"""The sandbox ledger's rules, over HTTP: keys, closed escrows, invalid bodies."""

from __future__ import annotations

from tests.sandbox.world import SandboxWorld


async def _escrow(world: SandboxWorld, funded: int = 100) -> str:
    await world.fund("owner", funded)
    answer = await world.http.post(
        f"{world.url}/ledger/escrows",
        json={"key": "c1:escrow", "campaign_id": "c1", "owner_wallet": "owner", "asset": "native"},
    )
    assert answer.status_code == 201
    return str(answer.json()["id"])


async def test_a_key_reused_for_another_operation_is_a_conflict(world: SandboxWorld) -> None:
    escrow = await _escrow(world)
    lock = await world.http.post(
        f"{world.url}/ledger/escrows/{escrow}/lock", json={"key": "k", "amount": 10}
    )
    assert lock.status_code == 200
    refund = await world.http.post(f"{world.url}/ledger/escrows/{escrow}/refund", json={"key": "k"})
    assert refund.status_code == 409
    assert refund.json()["type"].endswith("/key-reused")


async def test_a_closed_escrow_takes_no_more_money(world: SandboxWorld) -> None:
    escrow = await _escrow(world)
    await world.http.post(f"{world.url}/ledger/escrows/{escrow}/close", json={"key": "c1:close"})
    lock = await world.http.post(
        f"{world.url}/ledger/escrows/{escrow}/lock", json={"key": "c1:lock", "amount": 10}
    )
    assert lock.status_code == 409
    assert lock.json()["type"].endswith("/escrow-closed")
    assert await world.balance("owner") == 100


async def test_invalid_amount_is_a_problem_naming_the_field(world: SandboxWorld) -> None:
    escrow = await _escrow(world)
    answer = await world.http.post(
        f"{world.url}/ledger/escrows/{escrow}/transfers",
        json={"transfers": [{"key": "k", "to": "w", "amount": -1}]},
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "transfers.0.amount"


async def test_more_than_500_transfers_are_refused(world: SandboxWorld) -> None:
    escrow = await _escrow(world)
    transfers = [{"key": f"k{n}", "to": "w", "amount": 1} for n in range(501)]
    answer = await world.http.post(
        f"{world.url}/ledger/escrows/{escrow}/transfers", json={"transfers": transfers}
    )
    assert answer.status_code == 400
    assert await world.transfers() == []


async def test_unknown_escrow_is_404(world: SandboxWorld) -> None:
    answer = await world.http.get(f"{world.url}/ledger/escrows/esc-404")
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/escrow-not-found")
