"""The real processes for the ops tests: the dev server from the ``temporal`` binary, the
sandbox, ``campaigns worker`` and ``campaigns api`` on free ports and a fresh PostgreSQL
schema, started as ``campaigns dev`` would (bench/chaos_stack.py), plus a seeded owner."""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

# bench/ is a folder of scripts that import each other by bare name (chaos_stack), not a
# package: put it on the path the way running one of them does.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from chaos_stack import ChaosStack, PartExited, free_port

__all__ = ["ChaosStack", "PartExited", "free_port"]

POSTGRES_ADMIN_URL = os.environ.get(
    "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_postgres() -> None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return
    except psycopg.OperationalError as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")


@dataclass
class OpsStack(ChaosStack):
    worker_grace_seconds: float = 30.0

    def env(self) -> dict[str, str]:
        env = super().env()
        env["CAMPAIGNS_WORKER_GRACE_SECONDS"] = str(self.worker_grace_seconds)
        return env

    def log(self, name: str) -> list[dict[str, Any]]:
        """The JSON lines of the part's latest incarnation."""
        path = self.state_dir / "logs" / f"{name}-{self.parts[name].starts}.log"
        lines = []
        for line in path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def events(self, name: str) -> list[str]:
        return [str(line.get("event")) for line in self.log(name)]


@dataclass
class Owner:
    owner_id: str
    api_key: str
    x_user_id: str
    token: str


async def seed_owner(http: httpx.AsyncClient, stack: OpsStack) -> Owner:
    """An X user with its token, a funded wallet and an API owner for them."""
    x_user_id = str(uuid.uuid4().int % 10**12)
    user = (await http.post(f"{stack.sandbox_url}/sandbox/users", json={"id": x_user_id})).json()
    wallet = f"ops-{x_user_id}"
    funded = await http.post(
        f"{stack.sandbox_url}/sandbox/accounts", json={"account": wallet, "balance": 10**9}
    )
    funded.raise_for_status()
    body = {
        "name": "Ops owner",
        "x_user_id": x_user_id,
        "x_access_token": user["token"],
        "wallet": wallet,
    }
    operator = {"Authorization": f"Bearer {stack.operator_key}"}
    created = await http.post(f"{stack.api_url}/v1/owners", json=body, headers=operator)
    assert created.status_code == 201, created.text
    answer = created.json()
    return Owner(answer["id"], answer["api_key"], x_user_id, user["token"])


def campaign_spec(text: str) -> dict[str, Any]:
    return {
        "name": f"Ops {text[:40]}",
        "type": "awareness",
        "asset": "native",
        "budget": 10_000,
        "rewards": {"like": 10, "repost": 30, "quote": 50, "reply": 20},
        "first_post": {"text": text},
        "second_post": {"text": f"{text} (terms)"},
        "duration_seconds": 600,
        "poll_interval_seconds": 60,
    }


def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
