"""The environment ``campaigns dev`` gives its parts points them at the sandbox."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from cli.devstack import SANDBOX_APP_TOKEN, child_env, plan_dev_stack
from core.config import Settings


def test_parts_read_x_from_the_sandbox_with_an_app_token(tmp_path: Path) -> None:
    stack = plan_dev_stack(Settings(state_dir=tmp_path, sandbox_port=18001))
    env = child_env(stack, "operator-key")
    assert env["CAMPAIGNS_X_BASE_URL"] == "http://127.0.0.1:18001"
    assert env["CAMPAIGNS_LEDGER_BASE_URL"] == "http://127.0.0.1:18001/ledger"
    # Without a read token every engagement poll would be refused and the campaign would fail.
    assert env["CAMPAIGNS_X_BEARER_TOKEN"] == SANDBOX_APP_TOKEN
    assert env["CAMPAIGNS_OPERATOR_API_KEY"] == "operator-key"


def test_an_explicit_x_api_and_token_are_kept(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        x_base_url="https://api.x.com",
        x_bearer_token=SecretStr("real-token"),
    )
    env = child_env(plan_dev_stack(settings), "k")
    assert (
        "CAMPAIGNS_X_BASE_URL" not in env or env["CAMPAIGNS_X_BASE_URL"] != "http://127.0.0.1:8001"
    )
    assert env.get("CAMPAIGNS_X_BEARER_TOKEN") != SANDBOX_APP_TOKEN


def test_the_worker_pays_through_the_sandboxs_escrow_contract_by_default(tmp_path: Path) -> None:
    env = child_env(plan_dev_stack(Settings(state_dir=tmp_path, sandbox_port=18001)), "k")
    assert env["CAMPAIGNS_LEDGER"] == "evm"
    assert env["CAMPAIGNS_EVM_RPC_URL"] == "http://127.0.0.1:18001/evm"
    # the escrow and the key are the sandbox's own, asked of it (clients.evm_connect)
    assert "CAMPAIGNS_EVM_ESCROW_ADDRESS" not in env


def test_a_chosen_ledger_and_chain_are_kept(tmp_path: Path) -> None:
    http = child_env(plan_dev_stack(Settings(state_dir=tmp_path, ledger="http")), "k")
    assert http["CAMPAIGNS_LEDGER"] == "http"
    anvil = Settings(state_dir=tmp_path, ledger="evm", evm_rpc_url="http://127.0.0.1:8545")
    env = child_env(plan_dev_stack(anvil), "k")
    assert (env["CAMPAIGNS_LEDGER"], env["CAMPAIGNS_EVM_RPC_URL"]) == ("evm", anvil.evm_rpc_url)
