"""``campaigns reconcile``: find drift between the database and Temporal, the ledger and X,
and repair what is safe to repair (cli/drift.py says what and why)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from cli.drift import Finding, Reconciler, counts
from cli.preflight import StackError
from cli.stack import load_settings, one_line_errors, safe_url
from clients.http import make_http_client
from clients.ledger import LedgerClient
from clients.x_api import XApiClient
from core.config import Settings
from core.db import make_engine, session_factory
from core.temporal import connect

CONNECT_SECONDS = 10.0
_WINDOW = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> timedelta:
    """``900``, ``90s``, ``15m``, ``2h`` or ``1d``."""
    match = _WINDOW.match(text.lower())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 900, 90s, 15m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None


async def reconcile_once(
    settings: Settings, *, older_than: timedelta, dry_run: bool, fail_missing: bool
) -> list[Finding]:
    try:
        temporal = await asyncio.wait_for(
            connect(settings.temporal_address, settings.temporal_namespace), CONNECT_SECONDS
        )
    except (TimeoutError, RuntimeError, OSError) as error:
        raise StackError(
            f"CAMPAIGNS_TEMPORAL_ADDRESS: cannot reach Temporal at {settings.temporal_address}: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from None
    engine = make_engine(settings.database_url, pool_size=2)
    try:
        async with make_http_client() as http:
            x_token = _secret(settings.x_bearer_token)
            reconciler = Reconciler(
                session_factory(engine),
                temporal,
                ledger=LedgerClient(
                    http, settings.ledger_base_url, api_key=_secret(settings.ledger_api_key)
                ),
                social=XApiClient(http, settings.x_base_url, x_token),
                default_x_token=x_token,
                older_than=older_than,
                dry_run=dry_run,
                fail_missing=fail_missing,
            )
            return await reconciler.run()
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise StackError(
            f"CAMPAIGNS_DATABASE_URL: {safe_url(settings.database_url)}: {reason}"
        ) from None
    finally:
        engine.dispose()


def render(findings: list[Finding], *, dry_run: bool, database: str) -> None:
    console = Console()
    mode = "dry run, nothing changed" if dry_run else "repairs applied"
    if not findings:
        console.print(f"no drift found in {database}")
        return
    table = Table("kind", "campaign", "subject", "found", "action", title=f"drift ({mode})")
    for finding in findings:
        table.add_row(
            finding.kind, finding.campaign_id, finding.subject, finding.found, finding.action
        )
    console.print(table)
    repaired = sum(finding.repaired for finding in findings)
    summary = ", ".join(f"{count} {kind}" for kind, count in counts(findings).items())
    console.print(f"{len(findings)} found ({summary}); {repaired} repaired")


@one_line_errors
def reconcile(
    older_than: Annotated[
        str,
        typer.Option(
            help="only effects untouched for longer than this (900, 90s, 15m, 2h, 1d)",
        ),
    ] = "15m",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="report what would be done, change nothing")
    ] = False,
    fail_missing: Annotated[
        bool,
        typer.Option(
            "--fail-missing",
            help="mark a live campaign whose workflow Temporal does not know as failed",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Find rows that disagree with their workflow, the ledger or X, and repair what is safe.

    Campaigns whose workflow is running are never touched; every write is conditional on the
    row being as it was read, so it is safe while campaigns run."""
    window = parse_window(older_than)
    settings = load_settings("reconcile")
    findings = asyncio.run(
        reconcile_once(settings, older_than=window, dry_run=dry_run, fail_missing=fail_missing)
    )
    if as_json:
        document = {
            "dry_run": dry_run,
            "older_than_seconds": int(window.total_seconds()),
            "findings": [finding.as_json() for finding in findings],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    render(findings, dry_run=dry_run, database=safe_url(settings.database_url))
