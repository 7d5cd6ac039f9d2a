"""Recorded histories of finished campaigns replay against today's workflow code: a change
that would break running campaigns (non-determinism) fails here.

Record deliberately, never silently, with
``CAMPAIGNS_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_recorded_shapes.py``
(and ``test_campaign_sandbox.py``, ``test_continue_as_new_messages.py``,
``test_hostile_paths.py -k refused_reads_hold`` for the others, and
``test_distribution.py -k progress_reaches`` for the distribution child's own history).
``shipped-*.json`` were recorded with the workflow as it shipped before the
``workflow.patched`` changes: they must keep replaying as long as such runs may exist.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = sorted(Path(__file__).parent.glob("*.json"))


SHAPES = {
    "pause-resume",
    "top-up",
    "compensation",
    "cancel-signal",
    "cancel-through-temporal",
}


def test_a_history_of_each_campaign_type_and_shape_is_kept() -> None:
    names = {path.stem for path in HISTORIES}
    assert {"awareness-campaign", "quest-campaign", "continue-as-new", "attention"} <= names
    # the distribution child: batches side by side, and one after another as it shipped
    assert {"distribution", "shipped-distribution"} <= names
    assert names >= SHAPES  # as the workflow is now
    assert {f"shipped-{shape}" for shape in SHAPES} <= names  # as it shipped before


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", text)
    # With the worker's own sandbox configuration: what it passes through must replay too.
    replayer = Replayer(
        workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
