"""Properties of the reward rules over generated engagements (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from core.rewards import (
    EngagementFact,
    RewardTable,
    answers_quest,
    awareness_table,
    quest_table,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USERS = [f"u{i}" for i in range(8)]
KINDS = ["like", "repost", "quote", "reply"]
TEXTS = [None, "", "the answer", "THE  ANSWER!", "nope", "an swer the"]

engagement = st.builds(
    EngagementFact,
    x_user_id=st.sampled_from(USERS),
    kind=st.sampled_from(KINDS),
    # few distinct minutes, so ties on time (broken by user, then kind) are common
    first_seen_at=st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
    text=st.sampled_from(TEXTS),
)
engagements = st.lists(engagement, max_size=40)


def minute(m: int) -> datetime:
    return T0 + timedelta(minutes=m)


# Replies and quotes as the poll records them: every post, with its creation time on X (few
# distinct minutes, so ties are common; sometimes unknown) and a numeric post ID (of varying
# length, so "9" and "10" meet), seen by a poll at an unrelated time.
answer_post = st.builds(
    EngagementFact,
    x_user_id=st.sampled_from(USERS),
    kind=st.sampled_from(KINDS),
    first_seen_at=st.integers(0, 5).map(minute),
    text=st.sampled_from(TEXTS),
    post_id=st.integers(1, 120).map(str),
    posted_at=st.none() | st.integers(0, 5).map(minute),
)
answer_posts = st.lists(answer_post, max_size=40, unique_by=lambda f: f.post_id)
registered = st.sets(st.sampled_from(USERS)).map(lambda users: {u: f"w-{u}" for u in users})
rates = st.fixed_dictionaries({kind: st.integers(0, 60) for kind in KINDS})
budgets = st.integers(0, 300)


def check_accounting(table: RewardTable, budget: int, wallets: dict[str, str]) -> None:
    assert table.budget == budget
    assert sum(row.amount for row in table.rows) == table.earned
    assert 0 <= table.earned <= budget
    assert table.refund == budget - table.earned >= 0
    assert table.earned + table.refund == budget
    users = [row.x_user_id for row in table.rows]
    assert len(users) == len(set(users)), "one row per recipient"
    for row in table.rows:
        assert row.amount > 0
        assert wallets[row.x_user_id] == row.wallet, "only registered users are paid"


@settings(max_examples=300)
@given(engagements, registered, rates, budgets, st.randoms(use_true_random=False))
def test_awareness_properties(
    facts: list[EngagementFact],
    wallets: dict[str, str],
    kind_rates: dict[str, int],
    budget: int,
    shuffler: Random,
) -> None:
    table = awareness_table(facts, wallets, kind_rates, budget)
    check_accounting(table, budget, wallets)
    for row in table.rows:
        assert len(row.kinds) == len(set(row.kinds)), "each (user, kind) paid at most once"
        assert row.amount == sum(kind_rates[kind] for kind in row.kinds)

    # determinism: the same engagements in any order give the same table
    shuffled = list(facts)
    shuffler.shuffle(shuffled)
    assert awareness_table(shuffled, wallets, kind_rates, budget) == table

    # first come first served: the paid (user, kind) pairs are a prefix of the eligible ones
    # in (first seen, user, kind) order, and the first one left out did not fit
    first_seen: dict[tuple[str, str], datetime] = {}
    for f in facts:
        pair = (f.x_user_id, f.kind)
        first_seen[pair] = min(first_seen.get(pair, f.first_seen_at), f.first_seen_at)
    eligible = sorted(
        (p for p in first_seen if p[0] in wallets and kind_rates[p[1]] > 0),
        key=lambda p: (first_seen[p], p[0], p[1]),
    )
    paid = {(row.x_user_id, kind) for row in table.rows for kind in row.kinds}
    assert set(eligible[: len(paid)]) == paid
    if len(paid) < len(eligible):
        _user, kind = eligible[len(paid)]
        assert table.earned + kind_rates[kind] > budget
        assert table.exhausted
    unregistered = {f.x_user_id for f in facts if f.x_user_id not in wallets}
    rewardable = {f.x_user_id for f in facts if kind_rates[f.kind] > 0}
    assert table.ineligible == len(unregistered & rewardable)


def first_answers(facts: list[EngagementFact]) -> list[str]:
    """Users with a reply or quote that answers, in the order of their earliest answering
    post: creation time on X (else when a poll saw it), then post ID as a number."""
    earliest: dict[str, tuple[datetime, int]] = {}
    for f in facts:
        if f.kind in {"reply", "quote"} and answers_quest(f.text, "The Answer"):
            assert f.post_id is not None
            key = (f.posted_at or f.first_seen_at, int(f.post_id))
            earliest[f.x_user_id] = min(earliest.get(f.x_user_id, key), key)
    return sorted(earliest, key=lambda user: earliest[user])


@settings(max_examples=300)
@given(
    answer_posts,
    registered,
    st.integers(1, 6),
    st.integers(6, 300),
    st.randoms(use_true_random=False),
)
def test_quest_properties(
    facts: list[EngagementFact],
    wallets: dict[str, str],
    winners: int,
    budget: int,
    shuffler: Random,
) -> None:
    table = quest_table(facts, wallets, "The Answer", winners, budget)
    check_accounting(table, budget, wallets)
    assert table.recipients <= winners
    assert all(row.amount == budget // winners for row in table.rows)

    # determinism: the same posts in any order give the same table (it is rebuilt on retries)
    shuffled = list(facts)
    shuffler.shuffle(shuffled)
    assert quest_table(shuffled, wallets, "The Answer", winners, budget) == table

    # the winners are the first N registered users by their earliest answering post, with
    # every post of a user considered, not only the first one recorded
    answered = first_answers(facts)
    registered_in_order = [user for user in answered if user in wallets]
    assert [row.x_user_id for row in table.rows] == registered_in_order[:winners]
    assert table.exhausted == (len(registered_in_order) >= winners)
    assert table.ineligible == len([user for user in answered if user not in wallets])


@settings(max_examples=200)
@given(answer_posts, registered, st.integers(1, 6), st.randoms(use_true_random=False))
def test_quest_ignores_when_posts_were_polled_if_x_says_when_they_were_made(
    facts: list[EngagementFact], wallets: dict[str, str], winners: int, shuffler: Random
) -> None:
    dated = [f for f in facts if f.posted_at is not None]
    table = quest_table(dated, wallets, "The Answer", winners, budget=600)
    repolled = [replace(f, first_seen_at=minute(shuffler.randint(0, 60))) for f in dated]
    assert quest_table(repolled, wallets, "The Answer", winners, budget=600) == table
