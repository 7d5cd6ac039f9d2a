"""``CAMPAIGNS_LEDGER`` chooses the adapter the worker builds; an EVM ledger pointed at the
sandbox finds its contract and key there, and a missing or bad setting is one clear line."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from web3.types import Wei

from clients.evm_ledger import EvmLedger
from clients.ledger import LedgerClient
from clients.ports import PermanentError
from core.config import Settings, SettingsError, get_settings
from core.db import SessionFactory, make_engine, session_factory
from tests.evm.sandbox_chain import sandbox_chain
from tests.sandbox.world import SandboxWorld
from worker import make_ledger

OTHER_KEY = "0x" + "7a" * 32


@pytest.fixture
def sessions(sqlite_url: str) -> SessionFactory:
    return session_factory(make_engine(sqlite_url, pool_size=2))


def settings(**values: Any) -> Settings:
    return Settings.model_validate(values)


async def test_the_default_is_the_http_ledger(
    world: SandboxWorld, sessions: SessionFactory
) -> None:
    assert isinstance(await make_ledger(settings(), world.http, sessions), LedgerClient)


async def test_evm_on_the_sandbox_discovers_contract_and_key_and_works(
    world: SandboxWorld, sessions: SessionFactory
) -> None:
    chosen = settings(ledger="EVM", evm_rpc_url=f"{world.url}/evm/")
    ledger = await make_ledger(chosen, world.http, sessions)
    assert isinstance(ledger, EvmLedger)
    try:
        info = await world.control("GET", "/evm")
        owner = info["owner_wallets"][0]
        escrow = await ledger.create_escrow(
            "c1:escrow", campaign_id="c1", owner_wallet=owner, asset="native"
        )
        assert escrow.owner_wallet == owner and escrow.locked == 0
        with pytest.raises(PermanentError, match="does not exist"):
            await ledger.get_escrow("c-never")
    finally:
        await ledger.aclose()


async def test_a_given_key_wins_over_the_sandboxs(
    world: SandboxWorld, sessions: SessionFactory
) -> None:
    """The sandbox only fills in what is not set: a given key signs, and the contract, whose
    operator is the sandbox's service, refuses it."""
    chosen = settings(ledger="evm", evm_rpc_url=f"{world.url}/evm", evm_private_key=OTHER_KEY)
    ledger = await make_ledger(chosen, world.http, sessions)
    assert isinstance(ledger, EvmLedger)
    async with sandbox_chain(world) as chain:
        owner = chain.info["owner_wallets"][0]
        other = Account.from_key(OTHER_KEY).address
        paid = await chain.w3.eth.send_transaction(
            {"from": owner, "to": other, "value": Wei(10**18)}
        )
        await chain.w3.eth.wait_for_transaction_receipt(paid)
        try:
            with pytest.raises(PermanentError, match="the contract refuses") as refused:
                await ledger.create_escrow(
                    "c1:escrow", campaign_id="c1", owner_wallet=owner, asset="native"
                )
            assert OTHER_KEY[2:] not in str(refused.value)
            assert await chain.w3.eth.get_transaction_count(other) == 0  # nothing was sent
        finally:
            await ledger.aclose()


async def test_a_chain_that_is_not_the_sandbox_needs_address_and_key(
    world: SandboxWorld, sessions: SessionFactory
) -> None:
    chosen = settings(ledger="evm", evm_rpc_url="https://rpc.example.invalid")
    with pytest.raises(
        SettingsError, match="CAMPAIGNS_EVM_ESCROW_ADDRESS and CAMPAIGNS_EVM_PRIVATE_KEY"
    ):
        await make_ledger(chosen, world.http, sessions)


async def test_a_sandbox_that_does_not_answer_is_a_settings_error(
    world: SandboxWorld, sessions: SessionFactory
) -> None:
    chosen = settings(ledger="evm", evm_rpc_url=f"{world.url}/nothing-here/evm")
    with pytest.raises(SettingsError, match="did not say"):
        await make_ledger(chosen, world.http, sessions)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CAMPAIGNS_LEDGER", "chain", "CAMPAIGNS_LEDGER"),
        ("CAMPAIGNS_EVM_ESCROW_ADDRESS", "0x1234", "20-byte address"),
        ("CAMPAIGNS_EVM_PRIVATE_KEY", "0xnot-a-key-but-a-secret", "32-byte hex private key"),
    ],
)
def test_a_bad_ledger_setting_is_one_line_that_never_repeats_a_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match=message) as bad:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "not-a-key-but-a-secret" not in str(bad.value)
