"""``campaigns list|show|publish|pause|resume|cancel|extend|top-up|status|watch``: the API,
for people and scripts.

URL and key come from ``--api-url`` / ``--api-key``, else ``CAMPAIGNS_API_URL`` /
``CAMPAIGNS_API_KEY`` (else a local stack's operator key). ``--json`` prints the API's answer
as JSON for scripts. A refusal prints the API's reason on stderr and exits 1.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from cli.api_client import ApiClient, ApiError, resolve_connection
from cli.render import campaign_table, campaigns_table, draw_live, status_table, styled
from core.config import SettingsError, get_settings

P = ParamSpec("P")
R = TypeVar("R")

REFUSED = 1

ApiUrl = Annotated[str | None, typer.Option("--api-url", help="API base URL")]
ApiKey = Annotated[str | None, typer.Option("--api-key", help="API key (owner or operator)")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
Reason = Annotated[str | None, typer.Option("--reason", help="noted on the timeline")]

console = Console()


def client_for(api_url: str | None, api_key: str | None) -> ApiClient:
    return ApiClient(resolve_connection(get_settings(), api_url, api_key))


def refusals_exit(command: Callable[P, R]) -> Callable[P, R]:
    """The API's reason on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ApiError, SettingsError) as error:
            typer.echo(f"campaigns: {error}", err=True)
            raise typer.Exit(REFUSED) from None

    return wrapper


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


@refusals_exit
def list_command(
    status: Annotated[str | None, typer.Option(help="only this status")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="awareness or quest")] = None,
    owner_id: Annotated[str | None, typer.Option("--owner", help="operator: one owner")] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 20,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List campaigns, newest first."""
    with client_for(api_url, api_key) as client:
        result = client.list_campaigns(
            status=status, type=type_, owner_id=owner_id, page=page, page_size=page_size
        )
    emit_json(result) if as_json else console.print(campaigns_table(result, console.width))


@refusals_exit
def show(
    campaign_id: str, api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """A campaign's record and its live status."""
    with client_for(api_url, api_key) as client:
        record = client.campaign(campaign_id)
    if as_json:
        emit_json(record)
        return
    console.print(campaign_table(record))
    console.print(status_table(record["live"]))


@refusals_exit
def status(
    campaign_id: str, api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """The campaign's status document (the workflow's ``status`` query)."""
    with client_for(api_url, api_key) as client:
        document = client.status(campaign_id)
    emit_json(document) if as_json else console.print(status_table(document))


@refusals_exit
def publish(
    campaign_id: str,
    start_at: Annotated[
        str | None, typer.Option(help="ISO 8601 time with zone; omitted: now")
    ] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Start the campaign's workflow (idempotent: a repeat returns the same run)."""
    with client_for(api_url, api_key) as client:
        result = client.publish(campaign_id, start_at)
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"published {campaign_id}: workflow {result['workflow_id']} run {result['run_id']}"
        )


def _signal_command(name: str, doc: str) -> Callable[..., None]:
    @refusals_exit
    def send(
        campaign_id: str,
        reason: Reason = None,
        api_url: ApiUrl = None,
        api_key: ApiKey = None,
        as_json: AsJson = False,
    ) -> None:
        with client_for(api_url, api_key) as client:
            result = client.signal(campaign_id, name, reason)
        if as_json:
            emit_json(result)
        else:
            console.print(f"sent {name} to {campaign_id} ({result['workflow_id']})")

    send.__doc__ = doc
    send.__name__ = name
    return send


@refusals_exit
def extend(
    campaign_id: str,
    closes_at: Annotated[str, typer.Argument(help="the new end: ISO 8601 time with zone")],
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Move the campaign's end later (the ``extend`` update; an earlier end is refused)."""
    with client_for(api_url, api_key) as client:
        result = client.extend(campaign_id, closes_at)
    if as_json:
        emit_json(result)
    else:
        ends = datetime.fromisoformat(result["closes_at"]).isoformat()
        typer.echo(f"{campaign_id} now ends {ends}")


@refusals_exit
def top_up(
    campaign_id: str,
    amount: Annotated[int, typer.Argument(min=1, help="in the asset's smallest unit")],
    key: Annotated[
        str | None,
        typer.Option(help="idempotency key; the same key again locks once (default: a new one)"),
    ] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Lock AMOUNT more in the campaign's escrow (the ``top_up`` update)."""
    key = key or str(uuid.uuid4())
    # Printed before sending: if the answer is lost, the same key retries without a 2nd lock.
    typer.echo(f"idempotency key: {key}", err=as_json)
    with client_for(api_url, api_key) as client:
        try:
            result = client.top_up(campaign_id, amount, key)
        except ApiError as error:
            if error.status is not None and error.status < 500:
                raise
            # Unreachable, or Temporal or the worker away: nothing locks twice under one key.
            raise ApiError(f"{error}; it is safe to run this again with --key {key}") from None
        outcome_url = f"{client.connection.api_url}{result['outcome']}"
    if as_json:
        emit_json(result)
    elif result["state"] == "done":
        typer.echo(f"topped up {campaign_id}: budget is now {result['budget']}")
    else:
        typer.echo(
            f"top-up {key} is still going; read its outcome at {outcome_url} "
            f"or run this again with --key {key}"
        )


@refusals_exit
def watch(
    campaign_id: str, api_url: ApiUrl = None, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """Draw the campaign's progress live until it ends (``--json``: one document per line)."""
    with client_for(api_url, api_key) as client:
        if as_json:
            for document in client.live(campaign_id):
                typer.echo(json.dumps(document, sort_keys=True))
            return
        last = draw_live(client.live(campaign_id), console)
    if last is not None:
        console.print(f"campaign {campaign_id} ended {styled(last['status'])}")
        if last.get("failure"):
            console.print(f"failure: {last['failure']}")


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
    app.command()(show)
    app.command()(status)
    app.command()(publish)
    app.command("pause")(_signal_command("pause", "Pause at the next step boundary."))
    app.command("resume")(_signal_command("resume", "Resume a paused campaign."))
    app.command("cancel")(
        _signal_command("cancel", "Cancel: close early (pay what was earned) or release all.")
    )
    app.command()(extend)
    app.command("top-up")(top_up)
    app.command()(watch)
