"""A chaos run: N campaigns with M engagers each through the real processes (Temporal's dev
server on a SQLite history file, ``campaigns worker``, ``campaigns api``, ``campaigns sandbox``,
PostgreSQL), with sandbox faults, 429 bursts, pauses, retried top-ups, cancels through the API
and through Temporal, the worker SIGKILLed K times, Temporal and PostgreSQL restarted; then
every invariant is checked against the sandbox's ground truth (on ``--ledger evm``: the
escrow contract's events on the sandbox's chain). Exit code: 0 when all hold, 1 on any
breach, 2 when the run itself could not be carried out.

    .venv/bin/python bench/chaos.py --campaigns 8 --engagers 50 --kills 3
    campaigns chaos --campaigns 3 --engagers 20 --kills 1 --no-restart-postgres
    campaigns chaos --ledger evm --workers 2 --campaigns 8 --engagers 50 --kills 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import httpx
from chaos_checks import Invariant, check_all, collect, truth_of
from chaos_report import report
from chaos_scripts import (
    PAUSE_HOLD_SECONDS,
    ChaosEvents,
    Driver,
    clear_faults_after,
    run_chaos,
)
from chaos_stack import ChaosStack, snapshot
from chaos_world import TERMINAL, Api, CampaignRun, seed

POSTGRES_ADMIN_URL = os.environ.get(
    "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="campaigns chaos", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--campaigns", type=int, default=8, help="N campaigns (roles cycle; see chaos_world)")
    add("--engagers", type=int, default=50, help="M engagers per campaign (3 in 4 registered)")
    add("--kills", type=int, default=3, help="K worker SIGKILLs at random moments")
    add(
        "--workers",
        type=_positive,
        default=1,
        help="campaign worker processes on one task queue (each kill picks one at random)",
    )
    add(
        "--ledger",
        choices=("http", "evm"),
        default="http",
        help="the worker's ledger: the HTTP ledger, or the escrow contract on the sandbox's chain",
    )
    add("--duration", type=int, default=60, help="campaign length, s (the API's minimum: 60)")
    add("--poll-interval", type=int, default=10, help="engagement poll, s (minimum: 10)")
    add(
        "--chaos-window",
        type=float,
        help="kills and restarts happen within it, s (0.75 x duration)",
    )
    add(
        "--settle-timeout",
        type=float,
        default=180,
        help="after the end time, s, to reach a terminal status",
    )
    add(
        "--continue-as-new-after",
        type=int,
        default=100,
        metavar="EVENTS",
        help="history length at which the dev server suggests continue-as-new (0: its default)",
    )
    add("--restart-temporal", action=argparse.BooleanOptionalAction, default=True)
    add(
        "--restart-postgres",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="restart the machine's PostgreSQL cluster once (on unless --no-...: it disturbs"
        " everyone using that server)",
    )
    add("--error-rate", type=float, default=0.1, help="sandbox 5xx rate on X and the ledger")
    add("--lose-response-rate", type=float, default=0.1, help="effect committed, answer lost")
    add("--faults-for", type=float, help="faults end this long after the start, s (duration + 30)")
    add("--seed", type=int, help="randomness of the chaos schedule and the sandbox's faults")
    add(
        "--api-concurrency",
        type=int,
        default=0,
        metavar="N",
        help="at most N requests in flight to the API and sandbox (0: no bound)",
    )
    add("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL; a fresh schema per run")
    add("--state-dir", type=Path, help="kept afterwards (default: a temp dir, kept on breach)")
    add("--code", metavar="REV", help="run the processes from git REV (e.g. HEAD), not the tree")
    add(
        "--json",
        type=Path,
        default=Path(tempfile.gettempdir()) / "campaigns-chaos.json",
        help="where the results go as JSON (default: %(default)s)",
    )
    return parser.parse_args(argv)


async def settle(driver: Driver, runs: list[CampaignRun], deadline: float) -> None:
    async def one(run: CampaignRun) -> None:
        timeout = max(1.0, deadline - time.monotonic())
        doc = await driver.wait_for(run, "terminal", lambda d: d["status"] in TERMINAL, timeout)
        if doc is not None:
            failure = doc.get("failure")
            run.note(f"seen {doc['status']}" + (f": {failure[:100]}" if failure else ""))

    await asyncio.gather(*(one(r) for r in runs))


async def final_documents(driver: Driver, runs: list[CampaignRun]) -> None:
    for run in runs:
        run.final = await driver.status(run) or {}
        path = f"/v1/campaigns/{run.campaign_id}/timeline"
        try:
            response = await driver.api.api("GET", path, run.plan.owner.api_key, retry_for=30)
        except httpx.HTTPError as error:
            run.note(f"timeline: {type(error).__name__}")
            continue
        run.timeline = response.json()["events"] if response.status_code == 200 else []


async def drive_run(
    args: argparse.Namespace, stack: ChaosStack, events: ChaosEvents, results: dict[str, Any]
) -> list[Invariant]:
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(timeout=15) as http:
        api = Api(http, stack.api_url, stack.sandbox_url, args.api_concurrency)
        runs = await seed(
            api,
            stack.operator_key,
            args.campaigns,
            args.engagers,
            args.duration,
            args.poll_interval,
            args.ledger,
        )
        results["campaigns"] = runs
        driver = Driver(api, stack, args.duration)
        faults = {
            "error_rate": args.error_rate,
            "lose_response_rate": args.lose_response_rate,
            "seed": rng.randrange(2**31),
        }
        chaos = run_chaos(
            api,
            stack,
            events,
            window=args.chaos_window or 0.75 * args.duration,
            kills=args.kills,
            restart_temporal=args.restart_temporal,
            restart_postgres=args.restart_postgres,
            faults=faults,
            rng=rng,
        )
        deadline = time.monotonic() + args.duration + PAUSE_HOLD_SECONDS + args.settle_timeout
        faults_for = args.faults_for if args.faults_for is not None else args.duration + 30
        calm = asyncio.create_task(clear_faults_after(api, events, faults_for))
        await asyncio.gather(chaos, *(driver.drive(r) for r in runs))
        await settle(driver, runs, deadline)
        calm.cancel()
        # Faults off: the checks read the truth, they do not test the client again.
        await api.sandbox("DELETE", "/sandbox/faults")
        await final_documents(driver, runs)
        results["api_retries"] = api.retries
        results["continued_as_new"] = await stack.count_workflows(
            "WorkflowType='CampaignWorkflow' AND ExecutionStatus='ContinuedAsNew'"
        )
        truth = await collect(api, runs, args.ledger)
        for run in runs:
            run.truth = truth_of(run, truth)
        return check_all(runs, truth)


async def main_async(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="campaigns-chaos-"))
    state_dir = state_dir.resolve()
    code_dir = snapshot(args.code, state_dir / "code") if args.code else None
    stack = ChaosStack(
        state_dir,
        args.postgres_url,
        code_dir,
        args.continue_as_new_after,
        workers=args.workers,
        ledger=args.ledger,
    )
    events, results = ChaosEvents(), dict[str, Any]()
    invariants: list[Invariant] = []
    started = time.monotonic()
    supervisor: asyncio.Task[None] | None = None
    try:
        await stack.start()
        supervisor = asyncio.create_task(stack.supervise())
        work = asyncio.create_task(drive_run(args, stack, events, results))
        await asyncio.wait({work, supervisor}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            raise RuntimeError(f"the stack broke: {supervisor.exception()}")
        invariants = work.result()
    except Exception as error:
        results["error"] = f"{type(error).__name__}: {error}"
        traceback.print_exc()
        print(f"chaos: the run could not be carried out: {results['error']}", file=sys.stderr)
    finally:
        if supervisor is not None:
            supervisor.cancel()
        await stack.stop()
        try:
            stack.drop_schema()
        except Exception as error:  # reported, never hides the run's own outcome
            print(f"chaos: could not drop schema {stack.schema}: {error}", file=sys.stderr)
    report(args, stack, events, results, invariants, time.monotonic() - started)
    clean = "error" not in results and all(i.ok for i in invariants)
    if clean and args.state_dir is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        print(f"state and process logs kept in {state_dir}")
    if "error" in results:
        return 2
    return 0 if clean else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
