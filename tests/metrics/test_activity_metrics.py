"""An effect a retry finds already recorded done is counted, not sent again: the real post
activity over the sandbox, run again as Temporal would after a worker died between
recording the post and reporting the activity's completion, on a meter served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.payloads import PublishRequest
from core import metrics
from core.db import make_engine
from core.temporal import prometheus_runtime
from tests.activities.test_posts import post_activities, x_world
from tests.metrics.scrape import free_port, scrape, value_of
from tests.workflows.campaign_stack import OWNER_X_ID, awareness_spec


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def test_a_post_recorded_done_is_counted_when_a_retry_finds_it(
    sqlite_engine: Engine,
) -> None:
    port = free_port()
    runtime = prometheus_runtime("127.0.0.1", port)
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    async with x_world(sqlite_engine) as (stack, _):
        campaign_id = stack.draft(awareness_spec())
        posts = post_activities(stack)
        first = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        untouched = await scrape(f"http://127.0.0.1:{port}/metrics")
        retried = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        made = [p["id"] for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
        samples = await scrape(f"http://127.0.0.1:{port}/metrics")

    assert retried == first and made == [first.post_id]
    assert value_of(untouched, metrics.EFFECTS_FOUND_DONE) == 0
    found = value_of(samples, metrics.EFFECTS_FOUND_DONE, kind="first-post", how=metrics.RECORDED)
    assert found == 1
