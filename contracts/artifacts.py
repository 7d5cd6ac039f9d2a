"""The compiled contracts as committed in ``contracts/build/``: ABI, bytecode, compiler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

ESCROW = "campaign_escrow"
TEST_TOKEN = "test_token"
CONTRACT_NAMES = (ESCROW, TEST_TOKEN)


@dataclass(frozen=True)
class Artifact:
    name: str
    compiler: str
    source_sha256: str
    abi: list[dict[str, Any]]
    bytecode: str
    bytecode_runtime: str


def artifact_from_json(body: dict[str, Any]) -> Artifact:
    return Artifact(
        name=str(body["name"]),
        compiler=str(body["compiler"]),
        source_sha256=str(body["source_sha256"]),
        abi=list(body["abi"]),
        bytecode=str(body["bytecode"]),
        bytecode_runtime=str(body["bytecode_runtime"]),
    )


def load_artifact(name: str) -> Artifact:
    if name not in CONTRACT_NAMES:
        raise ValueError(f"no contract named {name!r}; known: {', '.join(CONTRACT_NAMES)}")
    text = resources.files("contracts").joinpath("build", f"{name}.json").read_text("utf-8")
    return artifact_from_json(json.loads(text))
