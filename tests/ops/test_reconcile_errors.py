"""What a person can get wrong running ``campaigns reconcile``: one clear line and exit 2,
never a traceback, and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from tests.ops.stack import free_port


def reconcile(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
    env.update(settings)
    argv = [sys.executable, "-m", "cli", "reconcile", *args]
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_a_malformed_window_is_refused_by_name(tmp_path: Path) -> None:
    done = reconcile(tmp_path, "--older-than", "fifteen")
    assert done.returncode == 2
    assert "'fifteen' is not a duration like 900, 90s, 15m, 2h or 1d" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_temporal_is_one_line_naming_the_setting(
    tmp_path: Path, sqlite_url: str
) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = reconcile(
        tmp_path, CAMPAIGNS_TEMPORAL_ADDRESS=address, CAMPAIGNS_DATABASE_URL=sqlite_url
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(
        f"campaigns: CAMPAIGNS_TEMPORAL_ADDRESS: cannot reach Temporal at {address}"
    )


def test_an_unmigrated_database_is_one_line_naming_the_setting(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    done = reconcile(
        tmp_path,
        CAMPAIGNS_TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        CAMPAIGNS_DATABASE_URL=empty,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("campaigns: CAMPAIGNS_DATABASE_URL: "), done.stderr
    assert "no such table" in done.stderr and "Traceback" not in done.stderr
