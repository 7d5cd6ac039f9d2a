"""What a chaos run prints and writes: the invariants' table with figures, a summary, what
was done to the stack and to each campaign (with the timelines of those in a breach), and the
same as JSON."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_checks import Invariant, render_table
from chaos_scripts import ChaosEvents
from chaos_stack import ChaosStack
from chaos_world import CampaignRun


def summary(
    runs: list[CampaignRun], events: ChaosEvents, stack: ChaosStack, results: dict[str, Any]
) -> list[str]:
    retries, continued = results.get("api_retries"), results.get("continued_as_new")
    statuses = Counter(r.final.get("status", "unknown") for r in runs)
    paid = [(r.final.get("rewards") or {}).get("paid", 0) for r in runs]
    amount = [(r.final.get("rewards") or {}).get("paid_amount", 0) for r in runs]
    return [
        f"stack       {stack.workers} worker process(es), ledger {stack.ledger}",
        f"campaigns   {len(runs)}: " + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items())),
        f"payouts     {sum(paid)} recipients paid, {sum(amount):,} in total",
        f"chaos       worker kills {events.kills}, Temporal restarts {events.temporal_restarts},"
        f" PostgreSQL restarts {events.postgres_restarts}",
        f"unexpected  {', '.join(stack.unexpected_exits) or 'no process exited by itself'}",
        f"retried     {retries} API or sandbox calls (connection errors and 5xx)",
        f"continued   {continued} campaign runs continued as new",
    ]


def campaign_lines(run: CampaignRun, with_timeline: bool) -> list[str]:
    doc = run.final
    status, failure = doc.get("status", "?"), doc.get("failure") or ""
    lines = [f"{run.campaign_id}  {run.plan.role:<24} {status:<10} {failure}"]
    lines += [f"    {e}" for e in run.events]
    if with_timeline:
        lines.append("    timeline:")
        lines += [
            f"      {e['seq']:>3} {e['at'][11:23]} {e['kind']:<22} {e['status']:<12} "
            f"{json.dumps(e.get('data'))[:140]}"
            for e in run.timeline
        ]
    return lines


def report(
    args: argparse.Namespace,
    stack: ChaosStack,
    events: ChaosEvents,
    results: dict[str, Any],
    invariants: list[Invariant],
    elapsed: float,
) -> None:
    runs: list[CampaignRun] = results.get("campaigns", [])
    breached = {
        r.campaign_id for r in runs for i in invariants for b in i.breaches if r.campaign_id in b
    }
    print(render_table(invariants))
    print("\nsummary")
    for line in [
        *summary(runs, events, stack, results),
        f"elapsed     {elapsed:.1f} s",
    ]:
        print(f"  {line}")
    print("\nchaos")
    print("\n".join(f"  {e}" for e in events.log))
    print("\ncampaigns (timelines of those in a breach)")
    for run in runs:
        print("\n".join(f"  {line}" for line in campaign_lines(run, run.campaign_id in breached)))
    document = {
        "ok": bool(invariants) and all(i.ok for i in invariants) and "error" not in results,
        "error": results.get("error"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "elapsed_s": round(elapsed, 1),
        "invariants": [
            {"name": i.name, "ok": i.ok, "figure": i.figure, "breaches": i.breaches}
            for i in invariants
        ],
        "summary": summary(runs, events, stack, results),
        "chaos": events.log,
        "api_retries": results.get("api_retries"),
        "unexpected_exits": stack.unexpected_exits,
        "state_dir": str(stack.state_dir),
        "campaigns": [
            {
                "id": r.campaign_id,
                "role": r.plan.role,
                "events": r.events,
                "top_up_attempts": r.top_up_attempts,
                "status": r.final,
                "timeline": r.timeline,
                "truth": r.truth,
            }
            for r in runs
        ],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, default=str))
    print(f"\nresults: {args.json}")
