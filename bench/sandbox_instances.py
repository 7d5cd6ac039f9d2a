"""What a workflow instance costs the worker: replays one recorded campaign history N times
(each replay builds a new instance, as a worker does for every campaign it has not cached),
with the SDK's default sandboxed runner and, beside it in one run, as the worker runs it (our
deterministic modules passed through: ``worker.WORKFLOW_RUNNER``), with every module passed
through, and without the sandbox (the floor).

    .venv/bin/python bench/sandbox_instances.py [--replays 200] [--history awareness-campaign]

Prints milliseconds per replay for each runner; a history that does not replay is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_stack import report
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from core.bytecode import cache_bytecode
from core.temporal import DATA_CONVERTER
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"


async def replay_ms(runner: WorkflowRunner, history: WorkflowHistory, replays: int) -> float:
    replayer = Replayer(
        workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER, workflow_runner=runner
    )
    await replayer.replay_workflow(history, raise_on_replay_failure=True)  # warm
    began = time.perf_counter()
    for _ in range(replays):
        await replayer.replay_workflow(history, raise_on_replay_failure=True)
    return 1000 * (time.perf_counter() - began) / replays


async def run(options: argparse.Namespace) -> int:
    cache_bytecode(Path(workflows.__file__).parent)  # as the worker does at start
    path = HISTORIES / f"{options.history}.json"
    history = WorkflowHistory.from_json(options.history, path.read_text())
    events = len(history.events)
    restrictions = SandboxRestrictions.default
    runners: dict[str, WorkflowRunner] = {
        "sandboxed (the SDK's default)": SandboxedWorkflowRunner(),
        "sandboxed, as the worker runs it (ours passed through)": WORKFLOW_RUNNER,
        "sandboxed, every module passed through": SandboxedWorkflowRunner(
            restrictions=restrictions.with_passthrough_all_modules()
        ),
        "unsandboxed (the floor)": UnsandboxedWorkflowRunner(),
    }
    figures: dict[str, Any] = {}
    for name, runner in runners.items():
        print(f"replaying with {name} ...", flush=True)
        figures[name] = await replay_ms(runner, history, options.replays)
    rows = [[name, ms] for name, ms in figures.items()]
    report(
        f"sandbox instances: {options.replays} replays of {options.history} ({events} events)",
        ["runner", "ms per replay"],
        rows,
        options.json,
        {"options": vars(options), "events": events, "ms_per_replay": figures},
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--replays", type=int, default=200)
    add("--history", default="awareness-campaign", help="a file of tests/histories, no .json")
    add("--json", type=Path, default=Path(tempfile.gettempdir()) / "sandbox-instances.json")
    options = parser.parse_args(argv)
    return asyncio.run(run(options))


if __name__ == "__main__":
    sys.exit(main())
