"""The worker's composition root: settings, one HTTP client, the X and ledger clients, one
database engine, the activity instances and the Temporal worker. ``python worker.py`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities.campaign import CampaignActivities
from activities.engagement import EngagementActivities
from activities.escrow import EscrowActivities
from activities.evm_store import DatabaseTransactionStore
from activities.posts import PostActivities
from activities.rewards import RewardActivities
from clients.evm_connect import EvmEndpointUnknown, evm_ledger, resolve_endpoint
from clients.http import make_http_client
from clients.ledger import LedgerClient
from clients.ports import Ledger, SocialPlatform
from clients.x_api import XApiClient
from core.bytecode import cache_bytecode
from core.config import Settings, SettingsError, get_settings
from core.db import SessionFactory, make_engine, session_factory
from core.log_context import LogContextInterceptor
from core.logging import configure_logging, get_logger, register_secret
from core.temporal import connect, prometheus_runtime, report_campaigns_needing_attention
from workflows.campaign import CampaignWorkflow
from workflows.distribution import DistributionWorkflow

WORKFLOWS: Sequence[type] = (CampaignWorkflow, DistributionWorkflow)

# The workflow sandbox imports a workflow's module afresh for every workflow instance, and with
# it every module that one imports, except those passed through. These are the declarations and
# deterministic helpers the workflow modules name inside ``imports_passed_through`` already: a
# ``from workflows import campaign_steps`` there re-imported the module anyway, its package not
# being passed through (core.contracts, 20-odd dataclasses, was built again per instance, ~40 ms
# of a distribution's 89: bench/sandbox_instances.py). The workflow modules themselves stay
# sandboxed, so their own code is still checked for determinism.
PASSED_THROUGH_MODULES = (
    "core",
    "activities",
    "workflows.campaign_details",
    "workflows.campaign_record",
    "workflows.campaign_state",
    "workflows.campaign_steps",
    "workflows.retry",
    "workflows.to_the_end",
)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH_MODULES)
)


def campaign_activities(
    sessions: SessionFactory,
    *,
    social: SocialPlatform,
    ledger: Ledger,
    http: httpx.AsyncClient,
    default_x_token: str | None = None,
) -> list[Callable[..., Any]]:
    """Every activity the campaign and its distribution run, bound to their dependencies."""
    campaign = CampaignActivities(sessions)
    posts = PostActivities(sessions, social, http, default_x_token)
    escrow = EscrowActivities(sessions, ledger)
    engagement = EngagementActivities(sessions, social)
    rewards = RewardActivities(sessions, ledger)
    return [
        campaign.load_campaign,
        campaign.record_transition,
        posts.publish_first_post,
        posts.publish_second_post,
        posts.delete_posts,
        escrow.lock_escrow,
        escrow.lock_top_up,
        escrow.refund_escrow,
        escrow.close_escrow,
        escrow.release_escrow,
        engagement.poll_engagement,
        rewards.build_reward_table,
        rewards.pay_batch,
    ]


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: SessionFactory,
    http: httpx.AsyncClient,
    x_base_url: str,
    ledger_base_url: str,
    x_bearer_token: str | None = None,
    ledger_api_key: str | None = None,
    ledger: Ledger | None = None,
    **worker_options: Any,
) -> Worker:
    """A worker with the real clients; the worker process and the tests build it alike.

    ``ledger``: an adapter already built (``make_ledger``); the HTTP ledger by default. Its
    tokens are masked in every log line, and every activity's lines carry its IDs.
    """
    register_secret(x_bearer_token)
    register_secret(ledger_api_key)
    interceptors = [LogContextInterceptor(), *worker_options.pop("interceptors", ())]
    social = XApiClient(http, x_base_url, x_bearer_token)
    ledger = ledger or LedgerClient(http, ledger_base_url, api_key=ledger_api_key)
    activities = campaign_activities(
        sessions, social=social, ledger=ledger, http=http, default_x_token=x_bearer_token
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        interceptors=interceptors,
        workflow_runner=WORKFLOW_RUNNER,
        **worker_options,
    )


async def make_ledger(
    settings: Settings, http: httpx.AsyncClient, sessions: SessionFactory
) -> Ledger:
    """The adapter ``CAMPAIGNS_LEDGER`` chooses. ``evm``: the escrow contract over JSON-RPC,
    its signed transactions and nonces in the database (shared by every worker process)."""
    if settings.ledger == "http":
        return LedgerClient(
            http, settings.ledger_base_url, api_key=_secret(settings.ledger_api_key)
        )
    try:
        endpoint = await resolve_endpoint(
            http,
            settings.evm_rpc_url,
            private_key=_secret(settings.evm_private_key),
            escrow_address=settings.evm_escrow_address,
        )
    except EvmEndpointUnknown as error:
        raise SettingsError(f"CAMPAIGNS_LEDGER=evm: {error}") from None
    store = DatabaseTransactionStore(sessions)
    return evm_ledger(endpoint, store, receipt_timeout=settings.evm_receipt_timeout)


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


class MetricsUnavailable(SettingsError):
    """The metrics endpoint cannot be served (its port is taken, say): one line that names
    the setting, as the commands print a bad setting."""


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The runtime serving the worker's Prometheus endpoint, or None when it is disabled."""
    if not settings.worker_metrics_port:
        return None
    try:
        return prometheus_runtime(settings.worker_metrics_host, settings.worker_metrics_port)
    except ValueError as error:  # the SDK's answer to an address it cannot bind
        raise MetricsUnavailable(
            f"CAMPAIGNS_WORKER_METRICS_PORT: cannot serve metrics on "
            f"{settings.worker_metrics_host}:{settings.worker_metrics_port}: {error}"
        ) from error


async def run_worker(settings: Settings) -> None:
    configure_logging(settings)
    log = get_logger("campaigns.worker")
    # Every workflow instance imports the workflow modules again: from bytecode, not source.
    cache_bytecode(Path(workflows.__file__).parent)
    runtime = metrics_runtime(settings)
    client = await connect(settings.temporal_address, settings.temporal_namespace, runtime=runtime)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    try:
        async with make_http_client() as http:
            sessions = session_factory(engine)
            worker = build_worker(
                client,
                task_queue=settings.task_queue,
                sessions=sessions,
                http=http,
                x_base_url=settings.x_base_url,
                ledger_base_url=settings.ledger_base_url,
                x_bearer_token=_secret(settings.x_bearer_token),
                ledger=await make_ledger(settings, http, sessions),
                graceful_shutdown_timeout=timedelta(seconds=settings.worker_grace_seconds),
                **capacity_options(settings),
            )
            log.info(
                "worker started",
                task_queue=settings.task_queue,
                metrics=metrics_address(settings) if runtime else "off",
            )
            async with _reporting_attention(client, runtime):
                await _run_until_cancelled(worker, log, settings.worker_grace_seconds)
    finally:
        engine.dispose()


def capacity_options(settings: Settings) -> dict[str, Any]:
    """The ``Worker`` options the ``CAMPAIGNS_WORKER_*`` capacity settings set."""
    return {
        "max_cached_workflows": settings.worker_max_cached_workflows,
        "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
        "max_concurrent_activities": settings.worker_max_concurrent_activities,
        "max_concurrent_workflow_task_polls": settings.worker_workflow_task_pollers,
        "max_concurrent_activity_task_polls": settings.worker_activity_task_pollers,
    }


def metrics_address(settings: Settings) -> str:
    return f"http://{settings.worker_metrics_host}:{settings.worker_metrics_port}/metrics"


@contextlib.asynccontextmanager
async def _reporting_attention(client: Client, runtime: Runtime | None) -> AsyncIterator[None]:
    if runtime is None:
        yield
        return
    task = asyncio.create_task(report_campaigns_needing_attention(client, runtime))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _run_until_cancelled(worker: Worker, log: Any, grace_seconds: float) -> None:
    """Run ``worker``; when this task is cancelled (SIGTERM), shut it down explicitly: stop
    polling at once, let running activities finish within the grace period, then cancel them.
    The HTTP client and the engine stay open until the last activity has returned."""
    running = asyncio.ensure_future(worker.run())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        log.info("worker shutting down", grace_seconds=grace_seconds)
        await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        raise


async def run_until_signalled(settings: Settings) -> None:
    """Run the worker (``campaigns worker``, ``python worker.py``); SIGINT/SIGTERM cancel the
    run, which drains it."""
    task = asyncio.ensure_future(run_worker(settings))
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    get_logger("campaigns.worker").info("worker stopped")


def main() -> None:
    asyncio.run(run_until_signalled(get_settings()))


if __name__ == "__main__":
    main()
