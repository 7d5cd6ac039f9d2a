"""Reward rules: who earns what, as pure deterministic functions (no I/O, no clock).

Used by the reward-table activity at close and by the poll activity for early close; safe to
import from workflow code. Inputs are the recorded engagements and the registered wallets; the
output is a reward table, one row per recipient, in a stable order.

Ordering is first come first served, in a total order, so the table does not depend on the
order rows were read in (it is rebuilt on every retry and every poll). Awareness engagements
sort by first-seen time, then user ID, then kind (then text). Quest posts sort by their
creation time on X (when we polled is an accident of the poll interval), falling back to
first-seen time when X did not say, then by post ID (as a number when it is digits), then user,
kind and text.

Awareness: each (user, kind) earns the campaign's rate for that kind once. Awards are granted
in order until one no longer fits in the budget; the table *stops* there (later, smaller
rewards are not slipped in), which is what "first come first served until the budget is spent"
means. Quest: the first N distinct users whose reply or quote contains the answer (ignoring
case and all whitespace) each earn ``budget // N``; every reply and quote of a user counts, and
a user's place is that of their earliest answering post.

Engagers without a wallet are ineligible: they take no budget and no quest slot, and are counted
once each if they made at least one rewardable engagement (awareness: a kind whose rate is
above 0; quest: a reply or quote with the answer), wherever it falls in the order.

Invariant: ``earned <= budget`` and ``refund == budget - earned``, so paid plus refunded is
always the budget locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.campaign_spec import CampaignSpec

QUEST_KINDS = frozenset({"reply", "quote"})


@dataclass(frozen=True)
class EngagementFact:
    """One recorded engagement, as the rules need it."""

    x_user_id: str
    kind: str  # like | repost | quote | reply
    first_seen_at: datetime  # aware UTC
    text: str | None = None  # quotes and replies
    # Quotes and replies, for quests: the post on X and when X says it was created.
    post_id: str | None = None
    posted_at: datetime | None = None  # aware UTC


@dataclass(frozen=True)
class RewardRow:
    x_user_id: str
    wallet: str
    amount: int
    kinds: tuple[str, ...]  # the engagement kinds this amount pays for, in award order


@dataclass(frozen=True)
class RewardTable:
    budget: int
    rows: tuple[RewardRow, ...] = ()
    earned: int = 0
    ineligible: int = 0
    # True when nothing more can be earned: the next award did not fit, the budget is fully
    # earned, or every quest slot is taken. The running campaign closes early on it.
    exhausted: bool = False

    @property
    def recipients(self) -> int:
        return len(self.rows)

    @property
    def refund(self) -> int:
        return self.budget - self.earned


def _ordered(engagements: Iterable[EngagementFact]) -> list[EngagementFact]:
    return sorted(engagements, key=lambda e: (e.first_seen_at, e.x_user_id, e.kind, e.text or ""))


def post_id_order(post_id: str | None) -> tuple[int, int, str]:
    """X post IDs are numeric strings that grow with time: "9" comes before "10". Other IDs
    (another platform, a hand-made row) come after, as strings; a missing ID comes last."""
    if post_id is None:
        return (2, 0, "")
    if post_id.isascii() and post_id.isdigit():
        return (0, int(post_id), post_id)
    return (1, 0, post_id)


def _in_posting_order(posts: Iterable[EngagementFact]) -> list[EngagementFact]:
    return sorted(
        posts,
        key=lambda e: (
            e.posted_at or e.first_seen_at,
            post_id_order(e.post_id),
            e.x_user_id,
            e.kind,
            e.text or "",
        ),
    )


def _check_budget(budget: int) -> None:
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")


def awareness_table(
    engagements: Iterable[EngagementFact],
    wallets: Mapping[str, str],
    rates: Mapping[str, int],
    budget: int,
) -> RewardTable:
    """Each (user, kind) once at ``rates[kind]``, in order, stopping at the first that does
    not fit in ``budget``. Kinds without a positive rate earn nothing."""
    _check_budget(budget)
    if any(rate < 0 for rate in rates.values()):
        raise ValueError(f"rates must be >= 0, got {dict(rates)}")
    amounts: dict[str, int] = {}  # insertion order is award order
    kinds: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    ineligible: set[str] = set()
    earned = 0
    stopped = False
    for engagement in _ordered(engagements):
        pair = (engagement.x_user_id, engagement.kind)
        rate = rates.get(engagement.kind, 0)
        if pair in seen or rate <= 0:
            continue
        seen.add(pair)
        if engagement.x_user_id not in wallets:
            ineligible.add(engagement.x_user_id)
            continue
        if stopped:
            continue
        if earned + rate > budget:
            stopped = True
            continue
        earned += rate
        amounts[engagement.x_user_id] = amounts.get(engagement.x_user_id, 0) + rate
        kinds.setdefault(engagement.x_user_id, []).append(engagement.kind)
    rows = tuple(
        RewardRow(user, wallets[user], amount, tuple(kinds[user]))
        for user, amount in amounts.items()
    )
    return RewardTable(
        budget=budget,
        rows=rows,
        earned=earned,
        ineligible=len(ineligible),
        exhausted=stopped or earned == budget,
    )


def normalize_answer(text: str) -> str:
    """Case- and whitespace-insensitive form: casefolded, all whitespace removed."""
    return "".join(text.casefold().split())


def answers_quest(text: str | None, answer: str) -> bool:
    wanted = normalize_answer(answer)
    return bool(wanted) and text is not None and wanted in normalize_answer(text)


def quest_table(
    engagements: Iterable[EngagementFact],
    wallets: Mapping[str, str],
    answer: str,
    winners: int,
    budget: int,
) -> RewardTable:
    """The first ``winners`` distinct registered users whose reply or quote contains
    ``answer``, ``budget // winners`` each, in the order of each user's earliest answering
    post. ``engagements`` should hold every reply and quote post, not one per user."""
    _check_budget(budget)
    if winners < 1:
        raise ValueError(f"winners must be >= 1, got {winners}")
    prize = budget // winners
    if prize < 1:
        raise ValueError(f"budget {budget} does not cover one unit for each of {winners}")
    rows: list[RewardRow] = []
    won: set[str] = set()
    ineligible: set[str] = set()
    for engagement in _in_posting_order(engagements):
        if engagement.kind not in QUEST_KINDS or not answers_quest(engagement.text, answer):
            continue
        user = engagement.x_user_id
        if user in won:
            continue
        wallet = wallets.get(user)
        if wallet is None:
            ineligible.add(user)
            continue
        if len(rows) < winners:
            won.add(user)
            rows.append(RewardRow(user, wallet, prize, (engagement.kind,)))
    return RewardTable(
        budget=budget,
        rows=tuple(rows),
        earned=prize * len(rows),
        ineligible=len(ineligible),
        exhausted=len(rows) == winners,
    )


def reward_table(
    spec: CampaignSpec,
    engagements: Iterable[EngagementFact],
    wallets: Mapping[str, str],
    budget: int,
) -> RewardTable:
    """The campaign's reward table for ``budget`` (what is locked now, top-ups included).

    ``engagements``: for awareness, one per (user, kind); for a quest, every reply and quote
    post (``activities.reward_store.load_reward_inputs`` reads the right ones).
    """
    if spec.type == "awareness":
        if spec.rewards is None:
            raise ValueError("an awareness campaign needs 'rewards'")
        rates = {kind: spec.rewards.rate(kind) for kind in ("like", "repost", "quote", "reply")}
        return awareness_table(engagements, wallets, rates, budget)
    if spec.quest is None:
        raise ValueError("a quest campaign needs 'quest'")
    return quest_table(engagements, wallets, spec.quest.answer, spec.quest.winners, budget)


def earned_so_far(
    spec: CampaignSpec,
    engagements: Iterable[EngagementFact],
    wallets: Mapping[str, str],
    budget: int,
) -> RewardTable:
    """What the engagements recorded so far earn (for the status and early close).

    The same rules as the final table, so the number shown while running is the number paid.
    Close early when ``.exhausted`` is true; ``.earned``, ``.recipients`` and ``.ineligible``
    feed the status document.
    """
    return reward_table(spec, engagements, wallets, budget)
