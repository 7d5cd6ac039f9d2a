"""Examples of the reward rules: awareness, quest, ineligible engagers, the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.campaign_spec import CampaignSpec
from core.rewards import (
    EngagementFact,
    answers_quest,
    awareness_table,
    earned_so_far,
    quest_table,
    reward_table,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RATES = {"like": 10, "repost": 30, "quote": 50, "reply": 20}


def fact(user: str, kind: str, minute: int, text: str | None = None) -> EngagementFact:
    return EngagementFact(user, kind, T0 + timedelta(minutes=minute), text)


def post(
    user: str, post_id: str, *, posted: int, seen: int, text: str, kind: str = "reply"
) -> EngagementFact:
    """A reply or quote post: created on X at minute ``posted``, first polled at ``seen``."""
    return EngagementFact(
        user,
        kind,
        T0 + timedelta(minutes=seen),
        text,
        post_id=post_id,
        posted_at=T0 + timedelta(minutes=posted),
    )


def wallets(*users: str) -> dict[str, str]:
    return {user: f"w-{user}" for user in users}


def spec(**overrides: Any) -> CampaignSpec:
    body: dict[str, Any] = {
        "name": "c",
        "type": "awareness",
        "budget": 1000,
        "rewards": RATES,
        "first_post": {"text": "first"},
        "second_post": {"text": "second"},
        "duration_seconds": 3600,
    }
    body.update(overrides)
    return CampaignSpec.model_validate(body)


def test_awareness_pays_each_user_kind_once_and_sums_per_recipient() -> None:
    engagements = [
        fact("b", "like", 2),
        fact("a", "like", 1),
        fact("a", "repost", 3),
        fact("a", "like", 5),  # the same (user, kind) again: already paid
    ]
    table = awareness_table(engagements, wallets("a", "b"), RATES, budget=1000)
    assert [(r.x_user_id, r.wallet, r.amount, r.kinds) for r in table.rows] == [
        ("a", "w-a", 40, ("like", "repost")),
        ("b", "w-b", 10, ("like",)),
    ]
    assert (table.earned, table.recipients, table.ineligible) == (50, 2, 0)
    assert table.refund == 950
    assert not table.exhausted


def test_awareness_ties_on_time_break_by_user_then_kind() -> None:
    engagements = [fact("b", "like", 0), fact("a", "reply", 0), fact("a", "like", 0)]
    table = awareness_table(engagements, wallets("a", "b"), RATES, budget=25)
    # order: (a, like) 10, (a, reply) 20 does not fit in 15 left: the table stops there.
    assert [(r.x_user_id, r.amount) for r in table.rows] == [("a", 10)]
    assert table.exhausted and table.earned == 10 and table.refund == 15


def test_awareness_stops_at_the_first_reward_that_does_not_fit() -> None:
    engagements = [fact("a", "quote", 0), fact("b", "quote", 1), fact("c", "like", 2)]
    table = awareness_table(engagements, wallets("a", "b", "c"), RATES, budget=90)
    # b's quote (50) does not fit in the 40 left; c's later like (10) would, but it came later.
    assert [r.x_user_id for r in table.rows] == ["a"]
    assert table.earned == 50 and table.refund == 40 and table.exhausted


def test_awareness_exactly_spent_budget_is_exhausted() -> None:
    table = awareness_table([fact("a", "like", 0)], wallets("a"), RATES, budget=10)
    assert table.earned == 10 and table.refund == 0 and table.exhausted


def test_kinds_without_a_rate_earn_nothing() -> None:
    rates = {"like": 0, "repost": 30}
    table = awareness_table(
        [fact("a", "like", 0), fact("b", "repost", 1)], wallets("b"), rates, budget=100
    )
    assert [r.x_user_id for r in table.rows] == ["b"]
    assert table.ineligible == 0  # "a" had nothing rewardable, so is not counted


def test_unregistered_engagers_are_ineligible_and_take_no_budget() -> None:
    engagements = [
        fact("ghost", "like", 0),
        fact("ghost", "repost", 1),
        fact("a", "like", 2),
        fact("phantom", "quote", 3),
    ]
    table = awareness_table(engagements, wallets("a"), RATES, budget=10)
    assert [(r.x_user_id, r.amount) for r in table.rows] == [("a", 10)]
    assert table.ineligible == 2  # distinct users, each counted once


def test_quest_pays_first_n_distinct_users_with_the_answer() -> None:
    engagements = [
        fact("a", "reply", 0, "It's  the BLUE whale!"),
        fact("a", "quote", 1, "blue whale"),  # a already won
        fact("b", "reply", 2, "a red herring"),  # wrong answer
        fact("c", "like", 3, None),  # likes never answer
        fact("d", "quote", 4, "BlueWhale"),  # whitespace is ignored
        fact("e", "reply", 5, "blue\twhale"),  # slots are taken
    ]
    table = quest_table(engagements, wallets(*"abcde"), "Blue Whale", winners=2, budget=1001)
    assert [(r.x_user_id, r.amount, r.kinds) for r in table.rows] == [
        ("a", 500, ("reply",)),
        ("d", 500, ("quote",)),
    ]
    assert table.earned == 1000 and table.refund == 1 and table.exhausted


def test_quest_ineligible_users_take_no_slot() -> None:
    engagements = [fact("ghost", "reply", 0, "42"), fact("a", "reply", 1, "42")]
    table = quest_table(engagements, wallets("a"), "42", winners=1, budget=10)
    assert [r.x_user_id for r in table.rows] == ["a"]
    assert table.ineligible == 1 and table.earned == 10


def test_quest_with_too_few_winners_is_not_exhausted() -> None:
    table = quest_table([fact("a", "reply", 0, "x")], wallets("a"), "x", winners=3, budget=30)
    assert table.recipients == 1 and table.earned == 10 and table.refund == 20
    assert not table.exhausted


def test_quest_looks_at_every_post_of_a_user() -> None:
    engagements = [
        post("a", "101", posted=0, seen=0, text="is it the red sun?"),
        post("a", "103", posted=2, seen=2, text="no wait: Blue Moon"),
        post("b", "102", posted=1, seen=1, text="green grass"),
    ]
    table = quest_table(engagements, wallets("a", "b"), "blue moon", winners=1, budget=10)
    assert [(r.x_user_id, r.kinds) for r in table.rows] == [("a", ("reply",))]


def test_quest_orders_by_creation_on_x_not_by_when_we_polled() -> None:
    engagements = [
        # a answered first on X, but a poll only saw it after b's later answer
        post("a", "200", posted=1, seen=9, text="42"),
        post("b", "201", posted=5, seen=6, text="42"),
    ]
    table = quest_table(engagements, wallets("a", "b"), "42", winners=1, budget=10)
    assert [r.x_user_id for r in table.rows] == ["a"]


def test_quest_orders_users_by_their_earliest_answering_post() -> None:
    engagements = [
        post("a", "300", posted=7, seen=7, text="42", kind="quote"),
        post("b", "301", posted=4, seen=4, text="42"),
        post("a", "302", posted=2, seen=8, text="also 42"),  # a's earliest answer
        post("b", "303", posted=1, seen=1, text="41"),  # b's earliest post, but wrong
    ]
    table = quest_table(engagements, wallets("a", "b"), "42", winners=1, budget=10)
    assert [(r.x_user_id, r.kinds) for r in table.rows] == [("a", ("reply",))]


def test_quest_tie_on_creation_time_is_broken_by_numeric_post_id() -> None:
    # "9" < "10" as numbers, though not as strings, and user "a" < "b"
    engagements = [
        post("a", "10", posted=3, seen=3, text="42"),
        post("b", "9", posted=3, seen=4, text="42"),
    ]
    table = quest_table(engagements, wallets("a", "b"), "42", winners=1, budget=10)
    assert [r.x_user_id for r in table.rows] == ["b"]
    both = quest_table(engagements, wallets("a", "b"), "42", winners=2, budget=10)
    assert [r.x_user_id for r in both.rows] == ["b", "a"]


def test_quest_post_without_a_creation_time_falls_back_to_when_it_was_seen() -> None:
    engagements = [
        EngagementFact("a", "reply", T0 + timedelta(minutes=2), "42", post_id="400"),
        post("b", "401", posted=3, seen=3, text="42"),
        post("c", "402", posted=1, seen=5, text="42"),
    ]
    table = quest_table(engagements, wallets("a", "b", "c"), "42", winners=3, budget=30)
    assert [r.x_user_id for r in table.rows] == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("THE ANSWER", True), ("the\nan swer", True), ("answ", False), (None, False)],
)
def test_answer_matching_ignores_case_and_whitespace(text: str | None, expected: bool) -> None:
    assert answers_quest(text, "The Answer") is expected


def test_bad_terms_are_refused() -> None:
    with pytest.raises(ValueError, match="budget"):
        awareness_table([], {}, RATES, budget=-1)
    with pytest.raises(ValueError, match="rates"):
        awareness_table([], {}, {"like": -1}, budget=1)
    with pytest.raises(ValueError, match="winners"):
        quest_table([], {}, "x", winners=0, budget=1)
    with pytest.raises(ValueError, match="does not cover"):
        quest_table([], {}, "x", winners=5, budget=4)


def test_reward_table_dispatches_on_the_campaign_type() -> None:
    engagements = [fact("a", "like", 0), fact("b", "reply", 1, "Paris")]
    awareness = reward_table(spec(), engagements, wallets("a", "b"), budget=1000)
    assert [(r.x_user_id, r.amount) for r in awareness.rows] == [("a", 10), ("b", 20)]
    quest = spec(type="quest", rewards=None, quest={"answer": "paris", "winners": 4})
    table = reward_table(quest, engagements, wallets("a", "b"), budget=1000)
    assert [(r.x_user_id, r.amount) for r in table.rows] == [("b", 250)]
    # a top-up is just a larger budget: the same rules, more room
    assert reward_table(quest, engagements, wallets("b"), budget=2000).earned == 500


def test_earned_so_far_is_the_final_table_of_what_is_recorded() -> None:
    engagements = [fact("a", "like", 0), fact("b", "quote", 1)]
    running = earned_so_far(spec(budget=60), engagements, wallets("a", "b"), budget=60)
    assert (running.earned, running.recipients, running.exhausted) == (60, 2, True)
