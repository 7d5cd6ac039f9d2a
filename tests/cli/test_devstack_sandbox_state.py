"""``campaigns dev`` keeps the sandbox's world in its state folder; others keep it in memory."""

from __future__ import annotations

from pathlib import Path

from cli.devstack import child_env, plan_dev_stack
from core.config import Settings


def test_the_dev_sandbox_keeps_its_world_in_the_state_folder(tmp_path: Path) -> None:
    env = child_env(plan_dev_stack(Settings(state_dir=tmp_path)), "k")
    assert env["CAMPAIGNS_SANDBOX_STATE_FILE"] == str(tmp_path.resolve() / "sandbox.db")


def test_an_explicit_sandbox_state_file_is_kept(tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere.db"
    env = child_env(plan_dev_stack(Settings(state_dir=tmp_path, sandbox_state_file=chosen)), "k")
    assert env.get("CAMPAIGNS_SANDBOX_STATE_FILE", str(chosen)) == str(chosen)


def test_an_empty_setting_means_in_memory() -> None:
    assert Settings(sandbox_state_file="").sandbox_state_file is None  # type: ignore[arg-type]
    assert Settings().sandbox_state_file is None
