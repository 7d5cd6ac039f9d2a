"""A small chaos run (bench/chaos.py) as a test: 3 campaigns of 20 engagers through the real
processes, a worker SIGKILLed once and the Temporal dev server restarted, every invariant
checked against the sandbox's truth. PostgreSQL is not restarted: other tests share it.

On both ledgers: the HTTP ledger with one worker (its transfers are the truth), and the
escrow contract on the sandbox's chain with two workers on the task queue (the contract's
events are the truth; the kill lands on either worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.dev_server]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
POSTGRES_ADMIN_URL = os.environ.get(
    "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# About 80 s here; the bound only stops a hung run.
RUN_TIMEOUT_SECONDS = 300


def _require_postgres() -> None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")


@pytest.mark.parametrize(("ledger", "workers"), [("http", 1), ("evm", 2)])
def test_a_small_chaos_run_keeps_every_invariant(tmp_path: Path, ledger: str, workers: int) -> None:
    _require_postgres()
    results = tmp_path / "results.json"
    argv = [sys.executable, str(SCRIPT), "--campaigns", "3", "--engagers", "20", "--kills", "1"]
    argv += ["--ledger", ledger, "--workers", str(workers)]
    argv += ["--restart-temporal", "--no-restart-postgres", "--chaos-window", "20"]
    # Half the bench's fault rates, over by 40 s: a final fetch that must succeed retries
    # with backoff, and the test has to end in about a minute and a half.
    argv += ["--error-rate", "0.05", "--lose-response-rate", "0.05", "--faults-for", "40"]
    argv += ["--settle-timeout", "90", "--seed", "7", "--json", str(results)]
    argv += ["--state-dir", str(tmp_path / "state"), "--postgres-url", POSTGRES_ADMIN_URL]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    print(run.stdout)  # the table and timelines, shown with -rP or on failure

    assert results.exists(), run.stderr[-3000:]
    document = json.loads(results.read_text())
    assert document["error"] is None, document["error"]
    breaches = [f"{i['name']}: {i['breaches']}" for i in document["invariants"] if not i["ok"]]
    assert breaches == [], run.stdout[-6000:]
    assert run.returncode == 0, run.stdout[-3000:]
    assert len(document["invariants"]) >= 10
    chaos = "\n".join(document["chaos"])
    assert "kill 1" in chaos and "Temporal dev server back" in chaos
    assert len(document["campaigns"]) == 3
    assert f"{workers} worker process(es), ledger {ledger}" in document["summary"][0]
    # the truth the checks read: some payout was seen there (on chain: a Paid event)
    payouts = sum(c["truth"]["payouts"] for c in document["campaigns"])
    assert payouts > 0
