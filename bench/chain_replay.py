"""What keeping the sandbox's chain in its state file costs: the time a sandbox takes to
start on a journal of N transactions (``sandbox.evm_journal``), against a fresh chain.

Each transaction is a signed payout batch of R recipients from the service, as the EVM
ledger sends them (R=1 is about the cheapest call; a worker's batches are larger). The
journal is written through the node as a sandbox writes it, then the node is built again
on the file, which is what ``campaigns sandbox --state-file`` does before it takes requests.

    .venv/bin/python bench/chain_replay.py --transactions 100,1000 --recipients 1,50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eth_account import Account
from web3 import Web3

from contracts.artifacts import ESCROW, load_artifact
from sandbox.evm_journal import ChainJournal
from sandbox.evm_node import SERVICE_DEV_KEY, EvmNode


def journal_of(path: Path, transactions: int, recipients: int) -> float:
    """Write a journal of an escrow, a lock and ``transactions`` batches; its seconds."""
    node = EvmNode(ChainJournal(path))
    service = Account.from_key(SERVICE_DEV_KEY)
    escrow = node.w3.eth.contract(abi=load_artifact(ESCROW).abi)
    campaign = Web3.keccak(text="bench")
    nonce, started = 0, time.perf_counter()

    def send(data: str, value: int = 0, gas: int = 200_000) -> None:
        """Signed, sent, and checked: a reverted batch would measure nothing."""
        nonlocal nonce
        body = {
            "type": 2, "chainId": node.info.chain_id, "nonce": nonce,
            "to": node.info.escrow_address, "data": data, "value": value, "gas": gas,
            "maxPriorityFeePerGas": 1, "maxFeePerGas": 10**11,
        }  # fmt: skip
        signed = service.sign_transaction(body)
        node.call("eth_sendRawTransaction", [signed.raw_transaction.to_0x_hex()])
        assert node.w3.eth.get_transaction_receipt(signed.hash)["status"] == 1, data[:10]
        nonce += 1

    zero = "0x" + "00" * 20
    send(escrow.encode_abi("create", [campaign, service.address, zero]))
    send(escrow.encode_abi("lock", [campaign, Web3.keccak(text="lock"), 10**21]), value=10**21)
    for batch in range(transactions):
        to = [Account.create().address for _ in range(recipients)]
        key = Web3.keccak(text=f"batch-{batch}")
        data = escrow.encode_abi("pay", [campaign, key, to, [1] * recipients])
        send(data, gas=100_000 + 80_000 * recipients)  # above what it uses
    node.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", default="100,1000")
    parser.add_argument("--recipients", default="1,50")
    args = parser.parse_args()
    started = time.perf_counter()
    EvmNode().close()
    fresh = time.perf_counter() - started
    print(f"fresh chain (set-up, no journal): {fresh:.2f} s")
    for recipients in [int(r) for r in args.recipients.split(",")]:
        for transactions in [int(n) for n in args.transactions.split(",")]:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "sandbox.db"
                writing = journal_of(path, transactions, recipients)
                started = time.perf_counter()
                node = EvmNode(ChainJournal(path))
                replay = time.perf_counter() - started
                node.close()
                print(
                    f"{transactions + 2} transactions ({recipients} recipients a batch): "
                    f"sent in {writing:.2f} s, start with replay {replay:.2f} s "
                    f"({1000 * (replay - fresh) / (transactions + 2):.1f} ms a transaction "
                    "beyond the fresh set-up)"
                )


if __name__ == "__main__":
    main()
