"""A small run of each benchmark (bench/*_bench.py, bench/distribution_e2e.py) through the
real processes: each must finish, print its table and write JSON whose figures are sane.
No timing targets are asserted: these machines are shared and noisy.

The runs are started together (each on its own dev server, ports and schema) and awaited by
one fixture, so the file costs about one campaign's 60 s plus set-up, not the sum."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.dev_server]

BENCH = Path(__file__).resolve().parents[2] / "bench"
POSTGRES_ADMIN_URL = os.environ.get(
    "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Two payout transactions of the contract's 150 recipients each.
EVM_RECIPIENTS = 300
RUN_TIMEOUT_SECONDS = 420  # stops a hung run; about two minutes here
SMALL_RUNS = {
    "campaigns": ["campaigns_bench.py", "--campaigns", "3", "--engagers", "4", "--workers", "1,2"],
    "timers": ["timers_bench.py", "--campaigns", "3", "--timers", "5", "--publish-lead", "15"],
    "api": ["api_bench.py", "--campaigns", "4", "--clients", "4", "--requests", "12"],
    "memory": ["memory_bench.py", "--campaigns", "4"],
    # One run per database, one on each ledger: both paths covered without a run more.
    "distribution-sqlite-evm": [
        *("distribution_e2e.py", "--recipients", str(EVM_RECIPIENTS)),
        *("--database", "sqlite", "--ledger", "evm"),
    ],
    "distribution-postgres-http": [
        *("distribution_e2e.py", "--recipients", "150", "--database", "postgres"),
        *("--ledger", "http"),
    ],
}


@dataclass
class Outcome:
    returncode: int
    stdout: str
    document: dict[str, Any] | None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    root = tmp_path_factory.mktemp("bench")
    running = {}
    for name, (script, *args) in SMALL_RUNS.items():
        argv = [sys.executable, str(BENCH / script), *args, "--json", str(root / f"{name}.json")]
        argv += ["--postgres-url", POSTGRES_ADMIN_URL]
        log = (root / f"{name}.log").open("w")
        running[name] = (subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log)
    results = {}
    for name, (process, log) in running.items():
        try:
            code = process.wait(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        log.close()
        path = root / f"{name}.json"
        document = json.loads(path.read_text()) if path.exists() else None
        results[name] = Outcome(code, (root / f"{name}.log").read_text(), document)
    yield results


def finished(outcomes: dict[str, Outcome], name: str, header: str) -> dict[str, Any]:
    outcome = outcomes[name]
    print(outcome.stdout[-4000:])
    assert outcome.returncode == 0, outcome.stdout[-4000:]
    assert header in outcome.stdout
    assert outcome.document is not None
    assert outcome.document["machine"]["nproc"] >= 1
    return outcome.document


def sane_ms(value: float) -> bool:
    return math.isfinite(value) and 0 <= value < 60_000


def test_campaigns_bench_reports_throughput_beside_the_ceiling_for_each_worker_count(
    outcomes: dict[str, Outcome],
) -> None:
    doc = finished(outcomes, "campaigns", "ceiling act/s")
    assert [r["workers"] for r in doc["runs"]] == [1, 2]
    for run in doc["runs"]:
        campaigns, ceiling = run["campaigns"], run["ceiling"]
        assert campaigns["closed"] == 3
        # Each campaign runs many activities (posts, escrow, polls, table, payouts, refund).
        assert campaigns["activities"] >= 3 * 5
        assert campaigns["seconds"] >= 60  # no campaign closes before its 60 s are up
        assert ceiling["workflows"] == 3
        assert ceiling["activities_each"] == round(campaigns["activities"] / 3)
        assert 0 < run["ratio"] < 10
        # Where the time went: each campaign ran its 60 s, and every part of the stack worked.
        lasted = campaigns["phases"]["lasted_s"]
        assert lasted["running"]["p50"] >= 59
        assert {"publishing", "closing", "distributing"} <= lasted.keys()
        for part in ("temporal", "worker", "sandbox", "api"):
            assert campaigns["cpu_seconds"][part] > 0, part
        assert ceiling["cpu_seconds"]["noop-worker-1"] > 0
        assert 0 < run["cpu_ms_per_activity"]["ceiling"] < run["cpu_ms_per_activity"]["campaigns"]


def test_timers_bench_reports_close_lateness_beside_bare_timer_skew(
    outcomes: dict[str, Outcome],
) -> None:
    doc = finished(outcomes, "timers", "campaign close ms")
    assert len(doc["bare_timer_skew_s"]) == 5 and len(doc["close_lateness_s"]) == 3
    # A timer never fires early: both measures are on the workflow's own clock.
    assert min(doc["bare_timer_skew_s"]) >= 0 and min(doc["close_lateness_s"]) >= 0
    for p in ("p50", "p99"):
        assert sane_ms(1000 * doc[p]["campaign_s"]) and sane_ms(1000 * doc[p]["bare_timer_s"])
        assert doc[p]["target_s"] == pytest.approx(doc[p]["bare_timer_s"] + 0.1)


def test_api_bench_reports_latencies_of_each_endpoint(outcomes: dict[str, Outcome]) -> None:
    doc = finished(outcomes, "api", "p99 ms")
    assert set(doc["endpoints"]) == {"GET /status", "GET /v1/campaigns", "POST /publish"}
    for name, figures in doc["endpoints"].items():
        expected = 202 if name == "POST /publish" else 200
        assert figures["codes"] == {str(expected): 12}, name
        assert sane_ms(figures["p50_ms"]) and figures["p50_ms"] <= figures["p99_ms"]
        assert figures["per_second"] > 0, name
    # The Temporal calls behind the routes, timed alone in the same run.
    assert len(doc["temporal_alone"]) == 2
    for call, figures in doc["temporal_alone"].items():
        assert figures["codes"] == {"ok": 12}, call
        assert sane_ms(figures["p50_ms"]) and figures["p50_ms"] <= figures["p99_ms"]


def test_memory_bench_reads_the_worker_rss(outcomes: dict[str, Outcome]) -> None:
    doc = finished(outcomes, "memory", "running MB")
    [rss] = doc["rss_mb_running"]
    assert 20 < rss < 4000
    assert math.isfinite(doc["kb_per_cached_campaign"])
    # The floor beside it: the no-op worker, read after its bare workflows were cached.
    floor = doc["bare_workflows"]
    [floor_rss] = floor["rss_mb_running"]
    assert 20 < floor_rss < 4000
    assert math.isfinite(floor["kb_per_cached_workflow"])
    assert "no-op worker 1" in outcomes["memory"].stdout
    # The floor is measured at a campaign's history length: a running campaign has posted,
    # locked its escrow and recorded each step (dozens of events), and the bare workflows ran
    # no-op activities until theirs came within one activity's events of that.
    campaign_events = doc["campaign_history_events"]
    assert campaign_events > 30
    assert floor["activities_each"] > 0
    assert abs(floor["history_events"] - campaign_events) <= 6


@pytest.mark.parametrize(
    ("database", "ledger", "recipients"),
    [("sqlite", "evm", EVM_RECIPIENTS), ("postgres", "http", 150)],
)
def test_distribution_e2e_pays_every_recipient_once_and_times_the_close(
    outcomes: dict[str, Outcome], database: str, ledger: str, recipients: int
) -> None:
    doc = finished(outcomes, f"distribution-{database}-{ledger}", "running->closed s")
    run = doc["runs"][f"{database} {ledger}"]
    assert (run["database"], run["ledger"], run["status"]) == (database, ledger, "closed")
    assert run["payouts"] == run["distinct_payout_keys"] == run["recipients"] == recipients
    assert 0 < run["running_to_closed_s"] < 600
    assert any("closed" in phase for phase in run["phases_s"])
    # Temporal's history of the close: the final fetch once, the table once, the payouts
    # (in the distribution child) in batches, each having run for some time.
    steps = run["steps"]
    assert steps["poll_engagement"]["count"] == steps["build_reward_table"]["count"] == 1
    assert steps["pay_batch"]["count"] >= 1
    assert all(min(f["max_wait_s"], f["ran_s"], f["span_s"]) >= 0 for f in steps.values())
    assert steps["build_reward_table"]["ran_s"] > 0  # it reads and writes the database
    if ledger == "evm":  # counted from the contract's events and the transactions' receipts
        chain = run["chain"]
        assert chain["transactions"] == 2 and chain["recipients_per_tx"] == 150
        assert chain["skipped_or_failed"] == 0
        assert 40_000 < chain["gas_per_recipient"] < 100_000
        assert 0 < chain["max_block_gas"] <= chain["block_gas_limit"]
        assert "gas/recipient" in outcomes[f"distribution-{database}-{ledger}"].stdout
    else:
        assert "chain" not in run


def test_distribution_e2e_refuses_a_ledger_it_cannot_drive() -> None:
    argv = [sys.executable, str(BENCH / "distribution_e2e.py"), "--ledger", "chain"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "--ledger: chain is not one of: http, evm" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_malformed_worker_series_is_a_clear_error() -> None:
    argv = [sys.executable, str(BENCH / "campaigns_bench.py"), "--workers", "1,two"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "--workers: expected positive integers" in run.stderr
    assert "Traceback" not in run.stderr
