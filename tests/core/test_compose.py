"""docker-compose.temporal.yml (Docker does not run here): it parses and agrees with the code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import ENV_PREFIX, Settings
from core.contracts import SEARCH_ATTRIBUTE_NAMES

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "sandbox", "worker", "api")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.temporal.yml").read_text())
    assert isinstance(compose, dict)
    found: dict[str, Any] = compose["services"]
    return found


def test_temporal_on_postgresql_with_ui_and_setup(services: dict[str, Any]) -> None:
    for name in ("postgresql", "temporal", "temporal-ui", "temporal-schema", "temporal-setup"):
        assert name in services
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal-ui"]["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_setup_job_registers_every_search_attribute_as_keyword(services: dict[str, Any]) -> None:
    script = "\n".join(services["temporal-setup"]["command"])
    assert "search-attribute create" in script and "--type Keyword" in script
    loop = re.search(r"for name in ([\w ]+);", script)
    assert loop is not None
    assert tuple(loop.group(1).split()) == SEARCH_ATTRIBUTE_NAMES


def test_app_services_run_our_commands_configured_only_by_settings(
    services: dict[str, Any],
) -> None:
    setting_names = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "."
        assert service["command"] == ["campaigns", name]
        unknown = set(service["environment"]) - setting_names
        assert unknown == set(), f"{name} sets variables no setting reads: {unknown}"
    assert services["worker"]["depends_on"]["temporal-setup"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["api"]["environment"]["CAMPAIGNS_TEMPORAL_ADDRESS"] == "temporal:7233"


def test_dockerfile_copies_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    modules = pyproject["tool"]["setuptools"]["py-modules"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            copied.update(line.split()[1:-1])
    assert {pattern.rstrip("*") for pattern in packages} <= copied
    assert {f"{module}.py" for module in modules} <= copied


def test_the_worker_pays_on_the_sandboxs_chain_unless_told_otherwise(
    services: dict[str, Any],
) -> None:
    """What the worker's settings are when no variable is given: compose's own defaults."""
    given = services["worker"]["environment"]
    defaults = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in given.items()}
    assert (defaults["CAMPAIGNS_LEDGER"], defaults["CAMPAIGNS_EVM_RPC_URL"]) == (
        "evm",
        "http://sandbox:8001/evm",
    )
    settings = Settings.model_validate(
        {name.removeprefix(ENV_PREFIX).lower(): value for name, value in defaults.items()}
    )
    # an unset key and escrow are unset, not "": the worker asks the sandbox for both
    assert settings.evm_private_key is None and settings.evm_escrow_address is None
    assert settings.ledger == "evm"
