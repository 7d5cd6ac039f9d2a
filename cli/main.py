"""The ``campaigns`` console script: the local stack, its parts, and commands for people."""

from __future__ import annotations

import typer

from cli import client_commands, demo, reconcile, stack

app = typer.Typer(
    name="campaigns",
    help="Durable social reward campaigns on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Durable social reward campaigns on Temporal."""


# The local stack and its parts: dev, migrate, sandbox, api, worker (cli/stack.py).
stack.register(app)

# For people and scripts: list, show, publish, pause, resume, cancel, status, watch against
# the API (cli/client_commands.py).
client_commands.register(app)

# A whole campaign against the local stack's sandbox in about a minute (cli/demo.py).
app.command("demo")(demo.demo)

# Drift between the database and Temporal, the ledger and X, repaired where safe
# (cli/reconcile.py, cli/drift.py).
app.command("reconcile")(reconcile.reconcile)


# The escrow smart contract: compile its sources into the committed artifacts (contracts/build.py).
contracts_app = typer.Typer(help="The escrow smart contract.", no_args_is_help=True)


@contracts_app.command("build")
def contracts_build(
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if one is stale."),
) -> None:
    """Compile contracts/*.vy into contracts/build/*.json (abi, bytecode, compiler version)."""
    from contracts.build import run

    raise typer.Exit(run(check=check))


@contracts_app.command("deploy")
def contracts_deploy() -> None:
    """Deploy the escrow on CAMPAIGNS_EVM_RPC_URL, operated by CAMPAIGNS_EVM_PRIVATE_KEY's
    account; prints the CAMPAIGNS_EVM_ESCROW_ADDRESS line to set."""
    from contracts.deploy import deploy_escrow
    from core.config import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as error:
        typer.echo(f"campaigns: {error}", err=True)
        raise typer.Exit(2) from None
    if settings.evm_private_key is None:
        typer.echo("campaigns: CAMPAIGNS_EVM_PRIVATE_KEY must be set (the service's key)", err=True)
        raise typer.Exit(2)
    try:
        address = deploy_escrow(settings.evm_rpc_url, settings.evm_private_key.get_secret_value())
    except Exception as error:  # one line, never the key: the node refused or is not there
        typer.echo(f"campaigns: deploying on {settings.evm_rpc_url}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"CAMPAIGNS_EVM_ESCROW_ADDRESS={address}")


app.add_typer(contracts_app, name="contracts")


@app.command(
    "chaos",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,  # --help goes to the script, which owns the options
)
def chaos(ctx: typer.Context) -> None:
    """Campaigns under faults, kills and restarts, checked against the truth (bench/chaos.py)."""
    import os
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "chaos.py"
    if not script.exists():
        typer.echo(f"campaigns: {script} is not in this installation (a checkout has it)", err=True)
        raise typer.Exit(2)
    # Replace this process: the run's signals and exit code are the script's own.
    os.execv(sys.executable, [sys.executable, str(script), *ctx.args])  # noqa: S606
