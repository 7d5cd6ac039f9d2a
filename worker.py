"""The worker's composition root: settings, one HTTP client, the X and ledger clients, one
database engine, the activity instances and the Temporal worker. ``python worker.py`` runs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.campaign import CampaignActivities
from activities.engagement import EngagementActivities
from activities.escrow import EscrowActivities
from activities.posts import PostActivities
from activities.rewards import RewardActivities
from clients.http import make_http_client
from clients.ledger import LedgerClient
from clients.ports import Ledger, SocialPlatform
from clients.x_api import XApiClient
from core.config import Settings, get_settings
from core.db import SessionFactory, make_engine, session_factory
from core.log_context import LogContextInterceptor
from core.logging import configure_logging, get_logger, register_secret
from core.temporal import connect
from workflows.campaign import CampaignWorkflow
from workflows.distribution import DistributionWorkflow

WORKFLOWS: Sequence[type] = (CampaignWorkflow, DistributionWorkflow)


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
    **worker_options: Any,
) -> Worker:
    """A worker with the real clients; the worker process and the tests build it alike.

    Its tokens are masked in every log line, and every activity's lines carry its IDs.
    """
    register_secret(x_bearer_token)
    register_secret(ledger_api_key)
    interceptors = [LogContextInterceptor(), *worker_options.pop("interceptors", ())]
    social = XApiClient(http, x_base_url, x_bearer_token)
    ledger = LedgerClient(http, ledger_base_url, api_key=ledger_api_key)
    activities = campaign_activities(
        sessions, social=social, ledger=ledger, http=http, default_x_token=x_bearer_token
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=activities,
        interceptors=interceptors,
        **worker_options,
    )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


async def run_worker(settings: Settings) -> None:
    configure_logging(settings)
    log = get_logger("campaigns.worker")
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    try:
        async with make_http_client() as http:
            worker = build_worker(
                client,
                task_queue=settings.task_queue,
                sessions=session_factory(engine),
                http=http,
                x_base_url=settings.x_base_url,
                ledger_base_url=settings.ledger_base_url,
                x_bearer_token=_secret(settings.x_bearer_token),
                ledger_api_key=_secret(settings.ledger_api_key),
            )
            log.info("worker started", task_queue=settings.task_queue)
            await worker.run()
    finally:
        engine.dispose()


def main() -> None:
    asyncio.run(run_worker(get_settings()))


if __name__ == "__main__":
    main()
