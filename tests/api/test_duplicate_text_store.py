"""The duplicate-text check is the database's (a JSON path in SQL), on SQLite and PostgreSQL:
texts that JSON escapes (quotes, backslashes, newlines, emoji) must match as X compares
them, letter for letter, and only the owner's live campaigns count."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api.campaign_store import create_campaign, refuse_duplicate_text
from api.problems import Problem
from core.campaign_spec import CampaignSpec
from core.models import Campaign, Owner
from tests.api.conftest import CAMPAIGN_BODY

HOSTILE_TEXTS = [
    'She said "we launched" \\o/',
    "Two lines\nand a tab\t🚀 ünïcødé",
    "50% off_ the 'first' * [brackets] {braces} $.path",
]


def spec(first: str, second: str) -> CampaignSpec:
    body: dict[str, Any] = {
        **CAMPAIGN_BODY,
        "first_post": {"text": first},
        "second_post": {"text": second},
    }
    return CampaignSpec.model_validate(body)


def owner(session: Session, name: str) -> str:
    row = Owner(name=name, x_user_id=f"x-{name}", wallet=f"wallet-{name}")
    session.add(row)
    session.commit()
    return row.id


def live(session: Session, owner_id: str, first: str, second: str, status: str) -> str:
    campaign = create_campaign(session, owner_id, spec(first, second))
    stored = session.get(Campaign, campaign.id)
    assert stored is not None
    stored.status = status
    session.add(stored)
    session.commit()
    return campaign.id


def refusal(session: Session, owner_id: str, first: str, second: str) -> Problem | None:
    try:
        refuse_duplicate_text(session, owner_id, spec(first, second))
    except Problem as problem:
        return problem
    return None


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_an_escaped_text_matches_itself_and_nothing_near_it(engine: Engine, text: str) -> None:
    with Session(engine) as session:
        ada = owner(session, "ada")
        grace = owner(session, "grace")
        live_id = live(session, ada, text, f"terms of {text}", "running")
        live(session, ada, "someone else's launch", "their terms", "closed")

        problem = refusal(session, ada, "a fresh launch", text)
        assert problem is not None and problem.status == 409
        assert problem.extensions["campaign_id"] == live_id
        assert "second post has the text of the first post" in problem.detail

        # Near misses are other texts to X: a letter's case, a trailing space, the escaped form.
        for near in (text.upper(), f"{text} ", text.replace("\n", "\\n").replace('"', '\\"')):
            if near != text:
                assert refusal(session, ada, near, "other terms") is None, near
        # Another owner is another author; a finished campaign's text is free again.
        assert refusal(session, grace, text, "other terms") is None
        assert refusal(session, ada, "someone else's launch", "fresh terms") is None


def test_the_earliest_live_campaign_is_named(engine: Engine) -> None:
    with Session(engine) as session:
        ada = owner(session, "ada")
        first_id = live(session, ada, "launch one", "shared terms", "running")
        live(session, ada, "launch two", "launch one", "paused")
        problem = refusal(session, ada, "launch one", "fresh terms")
        assert problem is not None and problem.extensions["campaign_id"] == first_id
