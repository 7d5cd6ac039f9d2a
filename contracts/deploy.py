"""Deploy the committed escrow artifact (``contracts/build/campaign_escrow.json``) on any EVM
JSON-RPC endpoint (anvil, a testnet, Hedera's JSON-RPC relay), with the service's account as
its operator: the only account that may then create, lock, pay, refund and close.

The transaction is signed here with the service's key (nothing is asked of the node's own
accounts) and the fee follows the node's own suggestion, as the worker's transactions do.
``campaigns contracts deploy`` runs it with ``CAMPAIGNS_EVM_RPC_URL`` and
``CAMPAIGNS_EVM_PRIVATE_KEY``.
"""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

from contracts.artifacts import ESCROW, load_artifact

RECEIPT_TIMEOUT_SECONDS = 300.0


def deploy_escrow(rpc_url: str, private_key: str) -> str:
    """The new escrow's address, once its deployment is mined successfully."""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    service = Account.from_key(private_key)
    artifact = load_artifact(ESCROW)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    body = factory.constructor(service.address).build_transaction(
        {"from": service.address, "nonce": w3.eth.get_transaction_count(service.address)}
    )
    signed = service.sign_transaction(body)
    sent = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(sent, timeout=RECEIPT_TIMEOUT_SECONDS)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise RuntimeError(f"the deployment {sent.to_0x_hex()} failed on chain")
    return str(receipt["contractAddress"])
