"""The invariants a chaos run must keep, checked against what the world saw: the sandbox's
posts and transfers, its ledger's escrows, and the API's status documents and timelines.
On the chain (``--ledger evm``) the transfers and escrows are read from the escrow contract's
own events instead (``chaos_chain``), in the same shapes, so every check is the same.

Each invariant carries a figure (how much was checked) and its breaches, one line each,
naming the campaign, so a report can show those campaigns' timelines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chaos_chain import collect_chain
from chaos_world import TERMINAL, Api, CampaignRun


@dataclass
class Invariant:
    name: str
    figure: str = ""
    breaches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaches


@dataclass
class Truth:
    posts: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    escrows: dict[str, dict[str, Any]]  # escrow id -> the ledger's document


def mine(run: CampaignRun, transfers: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The campaign's transfers of one kind: every key the service uses starts with its ID."""
    prefix = f"{run.campaign_id}:"
    return [t for t in transfers if t["kind"] == kind and t["key"].startswith(prefix)]


async def collect(api: Api, runs: list[CampaignRun], ledger: str = "http") -> Truth:
    posts = (await api.sandbox("GET", "/sandbox/truth/posts"))["posts"]
    if ledger == "evm":
        transfers, chain_escrows = await collect_chain(api, runs)
        return Truth(posts, transfers, chain_escrows)
    transfers = (await api.sandbox("GET", "/sandbox/truth/transfers"))["transfers"]
    escrow_ids: set[str] = set()
    for run in runs:
        escrow_ids |= {t["escrow"] for t in transfers if t["key"].startswith(f"{run.campaign_id}:")}
        if (run.final.get("escrow") or {}).get("id"):
            escrow_ids.add(run.final["escrow"]["id"])
        # An escrow created but never locked moves nothing, so only its receipt names it.
        receipt = await api.call(
            "GET", f"{api.sandbox_url}/ledger/operations/{run.campaign_id}:escrow"
        )
        if receipt.status_code == 200:
            escrow_ids.add(receipt.json()["escrow_id"])
    escrows = {e: await api.sandbox("GET", f"/ledger/escrows/{e}") for e in sorted(escrow_ids)}
    return Truth(posts, transfers, escrows)


def truth_of(run: CampaignRun, truth: Truth) -> dict[str, Any]:
    """The campaign's share of the ground truth, as the JSON results keep it."""
    posts = [p for p in truth.posts if p["text"] in run.plan.texts]
    payouts = mine(run, truth.transfers, "payout")
    return {
        "posts": [{k: p[k] for k in ("id", "author_id", "text", "deleted")} for p in posts],
        "locks": [(t["key"], t["amount"]) for t in mine(run, truth.transfers, "lock")],
        "payouts": len(payouts),
        "paid": sum(t["amount"] for t in payouts),
        "refunds": [(t["key"], t["amount"]) for t in mine(run, truth.transfers, "refund")],
        "escrows": [e for e in truth.escrows.values() if e["campaign_id"] == run.campaign_id],
    }


def check_all(runs: list[CampaignRun], truth: Truth) -> list[Invariant]:
    return [
        _terminal(runs),
        *_posts(runs, truth),
        *_payouts(runs, truth),
        _escrows(runs, truth),
        _counters(runs, truth),
        *_top_ups(runs, truth),
    ]


def _who(run: CampaignRun) -> str:
    return f"{run.campaign_id} ({run.plan.role}, {run.final.get('status', '?')})"


def _terminal(runs: list[CampaignRun]) -> Invariant:
    inv = Invariant("no campaign left in a non-terminal status")
    inv.breaches = [_who(r) for r in runs if r.final.get("status") not in TERMINAL]
    inv.figure = f"{len(inv.breaches)} of {len(runs)} non-terminal"
    return inv


def _posts(runs: list[CampaignRun], truth: Truth) -> list[Invariant]:
    dup = Invariant("each post text published at most once on X")
    named = Invariant("a closed campaign has exactly the posts it names (two once running)")
    left = Invariant("no post left live by a cancelled or failed campaign")
    texts = closed = ended = 0
    for run in runs:
        author = run.plan.owner.x_user_id
        own = [p for p in truth.posts if p["author_id"] == author and p["text"] in run.plan.texts]
        counts = Counter(p["text"] for p in own)
        texts += len(counts)
        dup.breaches += [
            f"{_who(run)}: {n} posts of {text!r}" for text, n in counts.items() if n > 1
        ]
        live = {p["id"] for p in own if not p["deleted"]}
        status = run.final.get("status")
        if status == "closed":
            closed += 1
            posts = run.final.get("posts") or {}
            names = {str(p) for p in (posts.get("first"), posts.get("second")) if p}
            was_running = any(e.get("status") == "running" for e in run.timeline)
            if live != names or (was_running and len(names) != 2):
                named.breaches.append(
                    f"{_who(run)}: live on X {sorted(live)}, named {sorted(names)}"
                    f"{' after running' if was_running else ''}"
                )
        elif status in ("cancelled", "failed"):
            ended += 1
            if live:
                left.breaches.append(f"{_who(run)}: {len(live)} live posts {sorted(live)}")
    dup.figure = f"{texts} texts published, {len(dup.breaches)} more than once"
    named.figure = f"{closed} closed campaigns, {len(named.breaches)} differ"
    left.figure = f"{ended} cancelled or failed campaigns, {len(left.breaches)} left posts"
    return [dup, named, left]


def _payouts(runs: list[CampaignRun], truth: Truth) -> list[Invariant]:
    once = Invariant("one payout per recipient per campaign")
    eligible = Invariant("no payout to an ineligible user")
    total = 0
    for run in runs:
        payouts = mine(run, truth.transfers, "payout")
        total += len(payouts)
        users = Counter(t["key"].rsplit(":", 1)[-1] for t in payouts)
        wallets = Counter(t["to"] for t in payouts)
        once.breaches += [
            f"{_who(run)}: user {u} paid {n} times" for u, n in users.items() if n > 1
        ]
        once.breaches += [
            f"{_who(run)}: wallet {w} paid {n} times" for w, n in wallets.items() if n > 1
        ]
        wallet_of = run.plan.eligible
        for t in payouts:
            user = t["key"].rsplit(":", 1)[-1]
            if wallet_of.get(user) != t["to"]:
                eligible.breaches.append(f"{_who(run)}: {t['amount']} to {t['to']} for {user}")
    once.figure = f"{total} payouts, {len(once.breaches)} repeated"
    eligible.figure = f"{total} payouts, {len(eligible.breaches)} to ineligible users"
    return [once, eligible]


def _escrows(runs: list[CampaignRun], truth: Truth) -> Invariant:
    inv = Invariant("per escrow locked = paid + refunded, and the escrow closed")
    by_campaign = {r.campaign_id: r for r in runs}
    for escrow in truth.escrows.values():
        run = by_campaign.get(escrow["campaign_id"])
        who = _who(run) if run else escrow["campaign_id"]
        settled = escrow["paid"] + escrow["refunded"]
        if escrow["locked"] != settled or not escrow["closed"]:
            inv.breaches.append(
                f"{who}: escrow {escrow['id']} locked {escrow['locked']}, paid {escrow['paid']}"
                f" + refunded {escrow['refunded']} = {settled}, closed {escrow['closed']}"
            )
    inv.figure = f"{len(truth.escrows)} escrows, {len(inv.breaches)} unbalanced or open"
    return inv


def _accepted_top_ups(run: CampaignRun) -> dict[str, int]:
    """Keys the API answered 200 for, with their amounts."""
    return {a["key"]: a["amount"] for a in run.top_up_attempts if a["status"] == 200}


def _counters(runs: list[CampaignRun], truth: Truth) -> Invariant:
    inv = Invariant("status-document counters equal the truth")
    compared = 0
    for run in runs:
        doc = run.final
        if not doc:
            continue
        payouts = mine(run, truth.transfers, "payout")
        locked = sum(t["amount"] for t in mine(run, truth.transfers, "lock"))
        refunded = sum(t["amount"] for t in mine(run, truth.transfers, "refund"))
        # Nothing locked (cancelled early): the budget is the draft's plus accepted top-ups.
        budget = locked or run.plan.spec["budget"] + sum(_accepted_top_ups(run).values())
        pairs = {
            "rewards.paid": (doc["rewards"]["paid"], len(payouts)),
            "rewards.paid_amount": (
                doc["rewards"]["paid_amount"],
                sum(t["amount"] for t in payouts),
            ),
            "budget.total": (doc["budget"]["total"], budget),
            "budget.refunded": (doc["budget"]["refunded"], refunded),
            "escrow.locked": (doc["escrow"]["locked"], locked),
        }
        compared += len(pairs)
        inv.breaches += [
            f"{_who(run)}: {name} says {said}, truth {real}"
            for name, (said, real) in pairs.items()
            if said != real
        ]
    inv.figure = f"{compared} counters compared, {len(inv.breaches)} differ"
    return inv


def _top_ups(runs: list[CampaignRun], truth: Truth) -> list[Invariant]:
    once = Invariant("each top-up key locked at most once (and once if accepted)")
    first = Invariant("a retried top-up key answers its first result")
    keys = 0
    for run in runs:
        amounts = {a["key"]: a["amount"] for a in run.top_up_attempts}
        if not amounts:
            continue
        keys += len(amounts)
        locks = mine(run, truth.transfers, "lock")
        extra = [t for t in locks if t["key"] != f"{run.campaign_id}:lock"]
        for key in amounts:
            n = sum(1 for t in extra if t["key"].endswith(f":{key}"))
            if n > 1:
                once.breaches.append(f"{_who(run)}: key {key} locked {n} times")
        # Keys that name a number, not the client's key, cannot be matched one by one: the
        # total locked must still be the budget plus each key's amount once at most.
        locked = sum(t["amount"] for t in locks)
        budget = run.plan.spec["budget"]
        most, least = budget + sum(amounts.values()), budget + sum(_accepted_top_ups(run).values())
        if locked > most:
            once.breaches.append(
                f"{_who(run)}: locked {locked} in {len(locks)} locks"
                f" ({[t['key'].split(':', 1)[1] for t in locks]}),"
                f" at most {most} with each key once"
            )
        elif locks and locked < least:
            once.breaches.append(f"{_who(run)}: locked {locked}, accepted top-ups need {least}")
        for key in amounts:
            answers = {
                str(a["answer"].get("budget"))
                for a in run.top_up_attempts
                if a["key"] == key and a["status"] == 200 and isinstance(a["answer"], dict)
            }
            if len(answers) > 1:
                first.breaches.append(f"{_who(run)}: key {key} answered budgets {sorted(answers)}")
    once.figure = f"{keys} keys, {len(once.breaches)} locked wrongly"
    first.figure = f"{keys} keys, {len(first.breaches)} answered differently"
    return [once, first]


def render_table(invariants: list[Invariant]) -> str:
    if not invariants:
        return "no invariant was checked: the run did not get that far"
    width = max(len(i.name) for i in invariants)
    lines = [f"{'invariant':<{width}}  result  figure", "-" * (width + 50)]
    for inv in invariants:
        lines.append(f"{inv.name:<{width}}  {'ok' if inv.ok else 'BREACH':<6}  {inv.figure}")
        lines += [f"    - {b}" for b in inv.breaches]
    return "\n".join(lines)
