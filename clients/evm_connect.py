"""Where the EVM ledger's chain, contract and key are: given, or asked of the sandbox.

A real chain needs its escrow address and the service's key given (``CAMPAIGNS_EVM_...``).
Pointed at the sandbox (an RPC URL ending in ``/evm``), whatever is not given is read from
the sandbox's ``GET /sandbox/evm``, whose key is its published development key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from eth_account import Account
from web3 import AsyncHTTPProvider, AsyncWeb3

from clients.evm_ledger import EvmLedger
from clients.evm_transactions import TransactionStore

SANDBOX_RPC_PATH = "/evm"
SANDBOX_INFO_PATH = "/sandbox/evm"


class EvmEndpointUnknown(Exception):
    """The escrow address or the key is neither given nor found; the message says which."""


@dataclass(frozen=True)
class EvmEndpoint:
    rpc_url: str
    escrow_address: str
    private_key: str  # never logged or shown

    def __repr__(self) -> str:
        return f"EvmEndpoint(rpc_url={self.rpc_url!r}, escrow_address={self.escrow_address!r})"


def sandbox_info_url(rpc_url: str) -> str | None:
    """The sandbox's ``/sandbox/evm`` beside an RPC URL of the sandbox; None for another."""
    base = rpc_url.rstrip("/")
    if not base.endswith(SANDBOX_RPC_PATH):
        return None
    return base.removesuffix(SANDBOX_RPC_PATH) + SANDBOX_INFO_PATH


async def resolve_endpoint(
    http: httpx.AsyncClient,
    rpc_url: str,
    *,
    private_key: str | None,
    escrow_address: str | None,
) -> EvmEndpoint:
    if private_key and escrow_address:
        return EvmEndpoint(rpc_url, escrow_address, private_key)
    missing = " and ".join(
        name
        for name, value in (
            ("CAMPAIGNS_EVM_ESCROW_ADDRESS", escrow_address),
            ("CAMPAIGNS_EVM_PRIVATE_KEY", private_key),
        )
        if not value
    )
    info_url = sandbox_info_url(rpc_url)
    if info_url is None:
        raise EvmEndpointUnknown(
            f"{missing} must be set: {rpc_url} is not the sandbox's .../evm to ask"
        )
    info = await _sandbox_info(http, info_url, missing)
    return EvmEndpoint(
        rpc_url,
        escrow_address or str(info["escrow_address"]),
        private_key or str(info["service_dev_private_key"]),
    )


async def _sandbox_info(http: httpx.AsyncClient, info_url: str, missing: str) -> dict[str, Any]:
    try:
        response = await http.get(info_url)
        response.raise_for_status()
        info = response.json()
        if not {"escrow_address", "service_dev_private_key"} <= set(info):
            raise ValueError("the answer names no escrow and no key")
    except (httpx.HTTPError, ValueError) as error:
        raise EvmEndpointUnknown(
            f"{missing} not set, and the sandbox at {info_url} did not say: {error}"
        ) from error
    return dict(info)


def evm_ledger(endpoint: EvmEndpoint, store: TransactionStore, **options: Any) -> EvmLedger:
    w3 = AsyncWeb3(AsyncHTTPProvider(endpoint.rpc_url))
    account = Account.from_key(endpoint.private_key)
    return EvmLedger(w3, endpoint.escrow_address, account, store, **options)
