"""The sandbox's world in its state file: what was answered is kept, and a restart neither
forgets an effect nor repeats one (a repeated ledger key, a duplicate text, a reused ID)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from clients.http import make_http_client
from sandbox.app import create_app
from tests.helpers import serve_asgi
from tests.sandbox.world import SandboxWorld

VENV_BIN = Path(sys.executable).parent


@contextlib.asynccontextmanager
async def sandbox_on(state_file: Path) -> AsyncIterator[SandboxWorld]:
    async with serve_asgi(create_app(state_file)) as url, make_http_client() as http:
        yield SandboxWorld(url=url, http=http)


async def post(world: SandboxWorld, token: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return await world.http.post(f"{world.url}/2/tweets", json=body, headers=headers)


async def ledger(world: SandboxWorld, path: str, body: dict[str, Any]) -> httpx.Response:
    return await world.http.post(f"{world.url}/ledger{path}", json=body)


async def seed_campaign_world(world: SandboxWorld) -> tuple[str, str, str]:
    """An owner who posted and locked, an engager who liked and replied, one payout.
    Returns (owner token, first post id, escrow id)."""
    token = await world.user("42", "acme")
    await world.fund("acme", 1_000)
    first = await post(world, token, {"text": "Launch!"})
    assert first.status_code == 201
    post_id = first.json()["data"]["id"]
    await world.engage(post_id, {"user_id": "7", "kind": "like"}, {"user_id": "7", "kind": "reply"})
    escrow = await ledger(
        world,
        "/escrows",
        {"key": "c1:escrow", "campaign_id": "c1", "owner_wallet": "acme", "asset": "native"},
    )
    escrow_id = escrow.json()["id"]
    locked = await ledger(world, f"/escrows/{escrow_id}/lock", {"key": "c1:lock", "amount": 500})
    assert locked.status_code == 200, locked.text
    paid = await ledger(
        world,
        f"/escrows/{escrow_id}/transfers",
        {"transfers": [{"key": "c1:payout:7", "to": "w7", "amount": 30}]},
    )
    assert paid.status_code == 200
    return token, post_id, escrow_id


async def test_a_restarted_sandbox_has_the_same_world_and_repeats_nothing(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    async with sandbox_on(state_file) as first:
        token, post_id, escrow_id = await seed_campaign_world(first)
        posts_before, transfers_before = await first.posts(), await first.transfers()

    async with sandbox_on(state_file) as second:
        assert await second.posts() == posts_before
        assert await second.transfers() == transfers_before
        assert await second.balance("acme") == 500
        assert await second.balance("w7") == 30
        # The repeated payout key answers with the first receipt: no second transfer.
        again = await ledger(
            second,
            f"/escrows/{escrow_id}/transfers",
            {"transfers": [{"key": "c1:payout:7", "to": "w7", "amount": 30}]},
        )
        assert again.status_code == 200
        assert again.json()["receipts"][0]["id"] == transfers_before[-1]["id"]
        assert len(await second.transfers()) == len(transfers_before)
        # X still knows the owner's token and still refuses the same text twice.
        duplicate = await post(second, token, {"text": "Launch!"})
        assert duplicate.status_code == 403
        # New things get new IDs, never one the first run handed out.
        fresh = await post(
            second, token, {"text": "Second post", "reply": {"in_reply_to_tweet_id": post_id}}
        )
        assert fresh.status_code == 201
        assert fresh.json()["data"]["id"] not in {p["id"] for p in posts_before}
        new_escrow = await ledger(
            second,
            "/escrows",
            {"key": "c2:escrow", "campaign_id": "c2", "owner_wallet": "acme", "asset": "native"},
        )
        assert new_escrow.json()["id"] != escrow_id
        operation = await ledger(
            second, f"/escrows/{new_escrow.json()['id']}/lock", {"key": "c2:lock", "amount": 1}
        )
        assert operation.json()["id"] not in {t["id"] for t in transfers_before}
        # Engagements kept: the like and the reply still count on the post.
        metrics = await second.http.get(
            f"{second.url}/2/tweets/{post_id}",
            params={"tweet.fields": "public_metrics"},
            headers={"authorization": "Bearer app"},
        )
        public = metrics.json()["data"]["public_metrics"]
        # The engager's like and reply, plus the owner's reply above.
        assert (public["like_count"], public["reply_count"]) == (1, 2)


async def test_transfers_are_rebuilt_from_their_operations_and_old_files_still_load(
    tmp_path: Path,
) -> None:
    """The state file keeps a payout as its operation (and the wallet it credited), not a
    third document: a restart lists the same ground truth. A file written before that, with
    its transfer rows, lists them as they were saved."""
    state_file = tmp_path / "sandbox.db"
    async with sandbox_on(state_file) as first:
        await seed_campaign_world(first)
        truth = await first.transfers()
    assert [t["kind"] for t in truth] == ["lock", "payout"]
    with sqlite3.connect(state_file) as db:
        kinds = {kind for (kind,) in db.execute("SELECT DISTINCT kind FROM entities")}
        assert "transfer" not in kinds and {"operation", "wallet", "escrow"} <= kinds
        # As a sandbox from before saved them: one row per transfer, by position.
        for position, transfer in enumerate(truth):
            doc = dict(transfer)
            doc["from_"] = doc.pop("from")  # the dataclass's field name, as it was saved
            db.execute(
                "INSERT INTO entities VALUES ('transfer', ?, ?)", (str(position), json.dumps(doc))
            )

    async with sandbox_on(state_file) as second:
        assert await second.transfers() == truth


async def test_every_answered_change_is_on_disk_before_the_answer(tmp_path: Path) -> None:
    """A sandbox killed without shutting down (SIGKILL) has lost nothing it answered: a second
    sandbox reads the file while the first one still runs and never got to close it."""
    state_file = tmp_path / "sandbox.db"
    async with sandbox_on(state_file) as running:
        token, _, _ = await seed_campaign_world(running)
        await running.http.post(f"{running.url}/sandbox/tokens/revoke", json={"token": token})
        async with sandbox_on(state_file) as reader:
            assert await reader.posts() == await running.posts()
            assert await reader.transfers() == await running.transfers()
            revoked = await post(reader, token, {"text": "after revoke"})
            assert revoked.status_code == 401


async def test_an_upload_in_progress_finishes_after_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.db"
    async with sandbox_on(state_file) as first:
        token = await first.user("42")
        headers = {"authorization": f"Bearer {token}"}
        init = await first.http.post(
            f"{first.url}/2/media/upload/initialize",
            json={"media_type": "image/png", "total_bytes": 4},
            headers=headers,
        )
        media_id = init.json()["data"]["id"]
        await first.http.post(
            f"{first.url}/2/media/upload/{media_id}/append",
            json={"segment_index": 0, "media": "AAAAAA=="},
            headers=headers,
        )
    async with sandbox_on(state_file) as second:
        headers = {"authorization": f"Bearer {token}"}
        done = await second.http.post(
            f"{second.url}/2/media/upload/{media_id}/finalize", headers=headers
        )
        assert done.status_code == 200, done.text
        assert done.json()["data"]["size"] == 4


def test_without_a_state_file_nothing_is_written(tmp_path: Path) -> None:
    app = create_app()
    assert app.state.sandbox.store is None
    assert list(tmp_path.iterdir()) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreadable_state_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "sandbox.db"
    garbage.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
    env["CAMPAIGNS_SANDBOX_PORT"] = str(free_port())
    done = subprocess.run(
        [str(VENV_BIN / "campaigns"), "sandbox", "--state-file", str(garbage)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(garbage) in lines[0]
    assert "Traceback" not in done.stderr


def serve_sandbox_process(state_file: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
    env["CAMPAIGNS_SANDBOX_PORT"] = str(port)
    return subprocess.Popen(
        [str(VENV_BIN / "campaigns"), "sandbox", "--state-file", str(state_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def answer_when_up(url: str, process: subprocess.Popen[bytes], body: Any) -> httpx.Response:
    """POST once the sandbox listens (a refused connection means not yet)."""
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            return httpx.post(url, json=body, timeout=10)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_campaigns_sandbox_state_file_outlives_a_sigterm(tmp_path: Path) -> None:
    state_file, port = tmp_path / "world.db", free_port()
    users = f"http://127.0.0.1:{port}/sandbox/users"
    first = serve_sandbox_process(state_file, port)
    try:
        created = answer_when_up(users, first, {"id": "42", "username": "acme"})
        assert created.status_code == 201
        first.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: the exit is -SIGTERM.
        assert first.wait(timeout=30) in (0, -signal.SIGTERM)
        assert first.stderr is not None
        assert "Application shutdown complete" in first.stderr.read().decode()
        second = serve_sandbox_process(state_file, port)
        try:
            # Creating the same user again answers the saved one: the same token.
            again = answer_when_up(users, second, {"id": "42"})
            assert again.json() == created.json()
        finally:
            second.terminate()
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
