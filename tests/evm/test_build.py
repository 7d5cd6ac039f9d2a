"""The committed artifacts are what the sources compile to, and the check notices when not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import vyper

from contracts import build
from contracts.artifacts import CONTRACT_NAMES, load_artifact


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_the_committed_artifact_is_the_compiled_source(name: str) -> None:
    fresh = build.compile_contract(name)
    committed = load_artifact(name)
    assert committed.compiler == f"vyper {vyper.__version__}"
    assert committed.bytecode == fresh["bytecode"]
    assert committed.bytecode_runtime == fresh["bytecode_runtime"]
    assert committed.abi == fresh["abi"]
    assert committed.source_sha256 == fresh["source_sha256"]


def test_the_check_reports_a_stale_artifact_and_writes_nothing(tmp_path: Path) -> None:
    assert build.build(build_dir=tmp_path) == list(CONTRACT_NAMES)
    assert build.build(check=True, build_dir=tmp_path) == []
    target = tmp_path / "campaign_escrow.json"
    stale = json.loads(target.read_text())
    stale["bytecode"] = stale["bytecode"][:-2] + "00"
    target.write_text(json.dumps(stale))
    tampered = target.read_text()
    assert build.build(check=True, build_dir=tmp_path) == ["campaign_escrow"]
    assert target.read_text() == tampered
    assert build.build(build_dir=tmp_path) == ["campaign_escrow"]
    assert build.build(check=True, build_dir=tmp_path) == []


def test_the_check_command_passes_on_the_committed_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["--check"]) == 0
    assert "contracts/build/campaign_escrow.json: up to date" in capsys.readouterr().out


def test_campaigns_contracts_build_check_runs_from_the_cli() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["contracts", "build", "--check"])
    assert result.exit_code == 0, result.output
    assert "contracts/build/test_token.json: up to date" in result.output


def test_a_source_that_does_not_compile_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources, artifacts = tmp_path / "src", tmp_path / "build"
    sources.mkdir()
    for name in CONTRACT_NAMES:
        (sources / f"{name}.vy").write_text((build.CONTRACTS_DIR / f"{name}.vy").read_text())
    (sources / "test_token.vy").write_text("# pragma version ~=0.4.3\n@external\ndef f( -> :\n")
    assert build.run(check=False, source_dir=sources, build_dir=artifacts) == 2
    error = capsys.readouterr().err
    assert "contracts/test_token.vy does not compile" in error
    assert "Traceback" not in error
    assert not artifacts.exists()
