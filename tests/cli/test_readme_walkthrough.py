"""The README's walk-through, extracted from README.md and run with bash as a reader would,
against a real ``campaigns dev``: it must end with a closed campaign that paid people."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.devstack_run import VENV_BIN, DevStack, dev_env

REPO = Path(__file__).resolve().parents[2]
MARKER = "# walk-through"
WALKTHROUGH_SECONDS = 300

pytestmark = pytest.mark.slow


def walkthrough_block() -> str:
    blocks = re.findall(r"^```bash\n(.*?)^```$", (REPO / "README.md").read_text(), re.M | re.S)
    marked = [block for block in blocks if block.startswith(MARKER + "\n")]
    assert len(marked) == 1, f"README.md needs exactly one ```bash block starting {MARKER!r}"
    return str(marked[0])


def test_the_readme_has_one_walkthrough_that_uses_only_shipped_files() -> None:
    block = walkthrough_block()
    for name in re.findall(r"examples/[\w./-]+", block):
        assert (REPO / name).is_file(), name
    # The stack's addresses come from variables a test (or a reader) can set.
    assert "${API:-http://127.0.0.1:8000}" in block
    assert "${SANDBOX:-http://127.0.0.1:8001}" in block
    assert "${CAMPAIGNS_STATE_DIR:-.campaigns}" in block


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[DevStack]:
    running = DevStack(env=dev_env(tmp_path / "state"), logs=tmp_path)
    try:
        yield running
    finally:
        running.close()


def checkout_for(tmp_path: Path) -> Path:
    """A directory that looks like the repository root to the block: its examples and .venv
    (the README runs from there; the test's venv may live elsewhere)."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "examples").symlink_to(REPO / "examples")
    (root / ".venv").symlink_to(VENV_BIN.parent)
    return root


def test_the_walkthrough_runs_verbatim_and_ends_closed_with_payouts(
    stack: DevStack, tmp_path: Path
) -> None:
    stack.start()
    env = {
        **stack.env,
        "API": stack.api_url,
        "SANDBOX": stack.sandbox_url,
        "CAMPAIGNS_STATE_DIR": stack.env["CAMPAIGNS_STATE_DIR"],
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough_block()],
        cwd=checkout_for(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=WALKTHROUGH_SECONDS,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    last_line = done.stdout.strip().splitlines()[-1]
    status = json.loads(last_line)
    assert status["status"] == "closed", status
    rewards = status["rewards"]
    assert rewards["paid_amount"] > 0, status
    assert rewards["recipients"] == rewards["paid"] == 3, status
    assert rewards["ineligible"] == 1, status
    # The figures the README promises for examples/.
    assert rewards["paid_amount"] == 120, status
    assert status["budget"]["refunded"] == status["budget"]["total"] - 120, status
    # What the contract did, from its own events (campaigns dev pays on the contract), not
    # what the service believes: one payout per recipient, as the README says after the block.
    chain = f"{stack.sandbox_url}/sandbox/truth/chain?campaign_id={status['campaign_id']}"
    events = httpx.get(chain, timeout=30).json()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds == ["escrow", "lock", *["payout"] * 3, "batch", "refund", "close"], events
    people = json.loads((REPO / "examples/participants.json").read_text())["participants"]
    wallets = {p["x_user_id"]: p["wallet"] for p in people}
    paid = {e["to"].lower(): e["amount"] for e in events if e["kind"] == "payout"}
    assert paid == {wallets["1001"]: 30, wallets["1002"]: 40, wallets["1003"]: 50}, events
    [lock, refund] = [e for e in events if e["kind"] in ("lock", "refund")]
    assert (
        (lock["amount"], refund["amount"])
        == (10_000, 10_000 - 120)
        == (
            status["budget"]["total"],
            status["budget"]["refunded"],
        )
    )
    assert refund["to"] == events[0]["to"]  # back to the owner's wallet the escrow names
    assert not stack.sandbox_truth("transfers")  # nothing went through the HTTP ledger
    # The first post carries the sandbox's image.
    posts = {p["id"]: p for p in stack.sandbox_truth("posts")}
    assert len(posts[status["posts"]["first"]]["media_ids"]) == 1
