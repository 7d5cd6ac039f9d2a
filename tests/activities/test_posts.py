"""The post activity over the sandbox: a post whose response was lost is found among the
author's recent posts, not sent twice; a done effect is returned, not repeated."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payloads import PublishRequest
from activities.posts import PostActivities
from clients.x_api import XApiClient
from core.db import make_engine, session_factory
from core.models import Effect
from tests.workflows.campaign_stack import OWNER_X_ID, awareness_spec, campaign_stack


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


async def test_a_lost_post_response_is_looked_up_not_resent(db: Engine) -> None:
    # The stack's Temporal client is not used here: activities run in ActivityEnvironment.
    async with campaign_stack(None, db) as stack:  # type: ignore[arg-type]
        campaign_id = stack.draft(awareness_spec())
        posts = PostActivities(
            session_factory(db), XApiClient(stack.http, stack.base_url, stack.app_token), stack.http
        )
        env = ActivityEnvironment()
        await stack.sandbox("PUT", "/faults", {"lose_response_rate": 1.0, "target": "x"})
        with pytest.raises(ApplicationError):
            await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        with Session(db) as session:
            effect = session.get(Effect, f"{campaign_id}:first-post")
            assert effect is not None and effect.state == "unknown"
        await stack.sandbox("DELETE", "/faults")
        found = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        again = await env.run(posts.publish_first_post, PublishRequest(campaign_id))
        sent = [p for p in await stack.posts() if p["author_id"] == OWNER_X_ID]
    assert found == again
    assert [p["id"] for p in sent] == [found.post_id]
