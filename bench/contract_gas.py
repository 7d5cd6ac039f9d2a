"""Gas the escrow spends per recipient, and how many recipients one transaction can pay.

Deploys the committed escrow artifact (and the test token) on an in-process py-evm chain
(web3's EthereumTesterProvider), pays batches of fresh recipients (the costly case: each
payout writes a new ``paid`` slot and, for the native coin, funds an empty account) and fits
``gas = base + per_recipient * n``. Then it finds, by estimating the real call, the largest
batch under each gas cap: the chain's block gas limit and any ``--cap`` given.

    .venv/bin/python bench/contract_gas.py [--sizes 1,10,100,200] [--cap 15000000]
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.types import Wei

from contracts.artifacts import ESCROW, TEST_TOKEN, load_artifact

NATIVE = Web3.to_checksum_address("0x" + "00" * 20)
MAX_BATCH = 500  # the contract's DynArray bound
BUDGET = 10**24


@dataclass(frozen=True)
class Setup:
    w3: Web3
    escrow: Contract
    service: ChecksumAddress
    campaign: bytes


def deploy(w3: Web3, name: str, *args: Any, sender: ChecksumAddress) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender})
    )
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact.abi)


def setup(asset: str) -> Setup:
    w3 = Web3(EthereumTesterProvider())
    accounts = list(w3.eth.accounts)
    service, owner = accounts[0], accounts[1]
    escrow = deploy(w3, ESCROW, service, sender=service)
    campaign = Web3.keccak(text=f"bench-{asset}")
    if asset == "native":
        w3.eth.wait_for_transaction_receipt(
            escrow.functions.create(campaign, owner, NATIVE).transact({"from": service})
        )
        lock = escrow.functions.lock(campaign, Web3.keccak(text="lock"), BUDGET // 10**6)
        w3.eth.wait_for_transaction_receipt(
            lock.transact({"from": service, "value": Wei(BUDGET // 10**6)})
        )
    else:
        token = deploy(w3, TEST_TOKEN, "Bench", "BENCH", 6, sender=service)
        for call, sender in (
            (token.functions.mint(owner, BUDGET), service),
            (token.functions.approve(escrow.address, BUDGET), owner),
            (escrow.functions.create(campaign, owner, token.address), service),
            (escrow.functions.lock(campaign, Web3.keccak(text="lock"), BUDGET), service),
        ):
            w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
    return Setup(w3, escrow, service, campaign)


def fresh_recipients(count: int) -> list[ChecksumAddress]:
    return [Account.create(secrets.token_hex(8)).address for _ in range(count)]


def batch_call(s: Setup, size: int) -> Any:
    key = Web3.keccak(text=secrets.token_hex(8))
    return s.escrow.functions.pay(s.campaign, key, fresh_recipients(size), [1_000] * size)


def gas_paid(s: Setup, size: int) -> int:
    call = batch_call(s, size)
    receipt = s.w3.eth.wait_for_transaction_receipt(call.transact({"from": s.service}))
    assert receipt["status"] == 1
    return int(receipt["gasUsed"])


def largest_batch_under(s: Setup, cap: int) -> int:
    """The largest batch of fresh recipients whose estimated gas is within ``cap``."""
    low, high = 0, MAX_BATCH
    while low < high:
        mid = (low + high + 1) // 2
        try:
            fits = batch_call(s, mid).estimate_gas({"from": s.service}) <= cap
        except Exception:  # over the block gas limit: the node refuses to estimate
            fits = False
        low, high = (mid, high) if fits else (low, mid - 1)
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,200", help="batch sizes to measure")
    parser.add_argument(
        "--cap", type=int, action="append", default=[], help="another gas cap (repeatable)"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    for asset in ("native", "erc20"):
        s = setup(asset)
        block_limit = int(s.w3.eth.get_block("latest")["gasLimit"])
        used = {n: gas_paid(s, n) for n in sizes}
        small, large = min(sizes), max(sizes)
        per_recipient = (used[large] - used[small]) / (large - small)
        base = used[small] - per_recipient * small
        replay = s.escrow.functions.pay(
            s.campaign, Web3.keccak(text="replayed"), fresh_recipients(1), [1]
        )
        s.w3.eth.wait_for_transaction_receipt(replay.transact({"from": s.service}))
        replayed = s.w3.eth.wait_for_transaction_receipt(replay.transact({"from": s.service}))
        replay_gas = replayed["gasUsed"]
        print(f"{asset}: gas used by a batch of n fresh recipients:")
        for n in sizes:
            print(f"  n={n:>4}: {used[n]:>10,}  ({used[n] / n:,.0f} per recipient)")
        print(f"  fit: {base:,.0f} + {per_recipient:,.0f} * n")
        print(f"  a replayed batch key: {replay_gas:,}")
        for cap in (block_limit, *args.cap):
            label = "block gas limit" if cap == block_limit else "cap"
            fit = largest_batch_under(s, cap)
            bound = " (the contract's bound)" if fit == MAX_BATCH else ""
            print(f"  {label} {cap:,}: at most {fit} recipients per transaction{bound}")


if __name__ == "__main__":
    main()
