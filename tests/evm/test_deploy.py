"""``campaigns contracts deploy``: the committed escrow artifact deployed on an EVM JSON-RPC
endpoint that is not the sandbox's own escrow (here a second deployment on the sandbox's
chain, over HTTP, as on anvil or Hedera's relay), and the adapter used on it unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import AsyncWeb3

from cli.main import app as cli_app
from clients.evm_ledger import NATIVE_ASSET, EvmLedger
from clients.evm_transactions import MemoryTransactionStore
from contracts.artifacts import ESCROW, load_artifact
from core.config import get_settings
from tests.evm.chain import fresh_addresses
from tests.evm.sandbox_chain import SandboxChain, sandbox_chain
from tests.sandbox.world import SandboxWorld, running_sandbox


@pytest.fixture
async def chain() -> AsyncIterator[SandboxChain]:
    async with running_sandbox() as world, sandbox_chain(world) as connected:
        yield connected


def deploy(env: dict[str, str]) -> tuple[int, str, str]:
    get_settings.cache_clear()  # a process reads its settings once; each run here is one
    result = CliRunner().invoke(cli_app, ["contracts", "deploy"], env=env)
    get_settings.cache_clear()
    return result.exit_code, result.stdout, result.stderr


async def test_a_deployed_escrow_is_operated_by_the_key_and_used_by_the_adapter(
    chain: SandboxChain,
) -> None:
    world: SandboxWorld = chain.world
    key = chain.info["service_dev_private_key"]
    env = {"CAMPAIGNS_EVM_RPC_URL": f"{world.url}/evm", "CAMPAIGNS_EVM_PRIVATE_KEY": key}
    code, out, err = await asyncio.to_thread(deploy, env)
    assert code == 0, err
    assert key.removeprefix("0x") not in out + err  # the key is never shown
    address = out.strip().removeprefix("CAMPAIGNS_EVM_ESCROW_ADDRESS=")
    assert AsyncWeb3.is_checksum_address(address) and address != chain.info["escrow_address"]
    checksummed = AsyncWeb3.to_checksum_address(address)
    escrow = chain.w3.eth.contract(address=checksummed, abi=load_artifact(ESCROW).abi)
    assert await escrow.functions.service().call() == chain.info["service_address"]

    service = Account.from_key(key)
    ledger = EvmLedger(chain.w3, address, service, MemoryTransactionStore())
    [owner] = fresh_addresses(1)
    await ledger.create_escrow(
        "d-1:escrow", campaign_id="d-1", owner_wallet=owner, asset=NATIVE_ASSET
    )
    await ledger.lock("d-1:lock", escrow_id="d-1", amount=500)
    assert (await ledger.get_escrow("d-1")).locked == 500
    assert await chain.w3.eth.get_balance(checksummed) == 500  # held by the new deployment
    # the sandbox's own escrow knows nothing of it
    assert await chain.world.control("GET", "/truth/chain?campaign_id=d-1") == {"events": []}


def test_without_a_key_it_says_which_setting_and_deploys_nothing() -> None:
    code, out, err = deploy({"CAMPAIGNS_EVM_RPC_URL": "http://127.0.0.1:9/evm"})
    assert code == 2, (out, err)
    assert "CAMPAIGNS_EVM_PRIVATE_KEY must be set" in err
