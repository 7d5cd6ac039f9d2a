"""What keeping the sandbox's world on disk costs: a chaos-like load, in memory, in the
SQLite state file (what ships), and in a JSON snapshot rewritten after every change (the
alternative it was measured against).

Per campaign: the owner, two posts, escrow and lock, three waves of engagements (a third of
them replies and quotes, which are posts), five polls of every engagement list, payouts in
batches of 500, refund and close. The app runs in-process (httpx ASGI transport), so the
figures are the sandbox's own cost, not the network's.

    .venv/bin/python bench/sandbox_state.py --campaigns 8 --engagers 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from sandbox.app import create_app
from sandbox.ledger_book import LedgerBook
from sandbox.persistence import SandboxStore
from sandbox.x_world import XWorld

READ_TOKEN = "app"  # reads take any non-empty token
KINDS = ("like", "like", "repost", "reply", "quote", "like")


class JsonSnapshotStore(SandboxStore):
    """The rejected design: the whole world as one JSON file, atomically replaced per change."""

    def rows(self, x: XWorld, ledger: LedgerBook) -> list[tuple[str, str, str | None]]:
        if not (x.dirty or ledger.dirty):
            return []
        x.dirty.update({("user", k) for k in x.users} | {("post", k) for k in x.posts})
        x.dirty.update({("media", k) for k in x.media})
        ledger.dirty.update({("wallet", k) for k in ledger.wallets})
        ledger.dirty.update({("escrow", k) for k in ledger.escrows})
        ledger.dirty.update({("operation", k) for k in ledger.operations})
        return super().rows(x, ledger)

    def save(self, rows: list[tuple[str, str, str | None]]) -> None:
        if not rows:
            return
        snapshot = self.path.with_suffix(".json")
        partial = snapshot.with_suffix(".json.tmp")
        partial.write_text(json.dumps([row for row in rows if row[2] is not None]))
        os.replace(partial, snapshot)


async def campaign(http: httpx.AsyncClient, n: int, engagers: int, timings: list[float]) -> None:
    async def call(method: str, path: str, body: Any = None, token: str = READ_TOKEN) -> Any:
        started = time.perf_counter()
        answer = await http.request(
            method, path, json=body, headers={"authorization": f"Bearer {token}"}
        )
        if method != "GET":
            timings.append(time.perf_counter() - started)
        assert answer.status_code < 300, answer.text
        return answer.json()

    user = await call("POST", "/sandbox/users", {"id": f"9{n}", "username": f"owner{n}"})
    token = user["token"]
    await call("POST", "/sandbox/accounts", {"account": f"o{n}", "balance": 10**9})
    first = (await call("POST", "/2/tweets", {"text": f"c{n} first"}, token))["data"]["id"]
    reply = {"text": f"c{n} second", "reply": {"in_reply_to_tweet_id": first}}
    await call("POST", "/2/tweets", reply, token)
    escrow = {"key": f"c{n}:escrow", "campaign_id": f"c{n}", "owner_wallet": f"o{n}"}
    escrow_id = (await call("POST", "/ledger/escrows", {**escrow, "asset": "native"}))["id"]
    await call("POST", f"/ledger/escrows/{escrow_id}/lock", {"key": f"c{n}:lock", "amount": 10**8})
    users = [f"{n}{u:06d}" for u in range(engagers)]
    for wave in range(3):
        items = [
            {"user_id": uid, "kind": KINDS[i % len(KINDS)]}
            for i, uid in enumerate(users)
            if i % 3 == wave
        ]
        await call("POST", "/sandbox/engagements", {"tweet_id": first, "engagements": items})
        for path in ("liking_users", "retweeted_by", "quote_tweets"):
            await call("GET", f"/2/tweets/{first}/{path}")
        await call("GET", f"/2/tweets/search/recent?query=conversation_id:{first}")
    for start in range(0, engagers, 500):
        batch = [
            {"key": f"c{n}:payout:{uid}", "to": f"w{uid}", "amount": 1}
            for uid in users[start : start + 500]
        ]
        await call("POST", f"/ledger/escrows/{escrow_id}/transfers", {"transfers": batch})
    await call("POST", f"/ledger/escrows/{escrow_id}/refund", {"key": f"c{n}:refund"})
    await call("POST", f"/ledger/escrows/{escrow_id}/close", {"key": f"c{n}:close"})


async def run(mode: str, campaigns: int, engagers: int, folder: Path) -> dict[str, Any]:
    app = create_app(folder / f"{mode}.db" if mode != "memory" else None)
    if mode == "json-snapshot":
        app.state.sandbox.store.close()
        app.state.sandbox.store = JsonSnapshotStore(folder / "snapshot.db")
    timings: list[float] = []
    transport = httpx.ASGITransport(app=app)
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        # Two at a time, as campaigns overlap in a chaos run.
        for first in range(0, campaigns, 2):
            await asyncio.gather(
                *(
                    campaign(http, n, engagers, timings)
                    for n in range(first, min(first + 2, campaigns))
                )
            )
    total = time.perf_counter() - started
    timings.sort()
    loaded = None
    if mode == "sqlite":  # how long a restart takes to read this world back
        store = SandboxStore(folder / "sqlite.db")
        load_started = time.perf_counter()
        store.load()
        loaded = round(time.perf_counter() - load_started, 2)
        store.close()
    return {
        "mode": mode,
        "seconds": round(total, 2),
        "load_seconds": loaded,
        "changes": len(timings),
        "median_ms": round(statistics.median(timings) * 1000, 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1] * 1000, 2),
        "max_ms": round(timings[-1] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=8)
    parser.add_argument("--engagers", type=int, default=1000, help="per campaign")
    parser.add_argument("--modes", default="memory,sqlite,json-snapshot")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes.split(","):
            result = asyncio.run(run(mode, args.campaigns, args.engagers, Path(folder)))
            print(json.dumps(result))


if __name__ == "__main__":
    main()
