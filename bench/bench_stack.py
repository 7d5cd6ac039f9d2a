"""What the benchmarks share: the chaos run's real processes (bench/chaos_stack.py) with K
campaign workers and as many no-op bench workers (bench/noop_worker.py) on the same dev
server, owners and campaigns made through the API, and the table and JSON they print.

Every bench client is connected only after every process is spawned: the driver forks with
``die_with_parent`` set, which is safe only while it has no other threads (see chaos_stack).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from chaos_stack import ChaosStack, snapshot, wait_until
from chaos_world import TERMINAL, Api, Owner, _ok
from temporalio.client import Client

from core.contracts import SEARCH_ATTRIBUTE_STATUS

POSTGRES_ADMIN_URL = os.environ.get(
    "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NOOP_TASK_QUEUE = "bench-noop"
NOOP_PART = "noop-worker-"
LIKE_RATE = 10
BENCH_DIR = Path(__file__).resolve().parent


def add_stack_options(parser: argparse.ArgumentParser, json_name: str) -> None:
    add = parser.add_argument
    add("--workers", default="1", help="campaign worker processes on one task queue")
    add("--postgres-url", default=POSTGRES_ADMIN_URL, help="admin URL; a fresh schema per run")
    add("--state-dir", type=Path, help="kept afterwards (default: a temporary directory)")
    add(
        "--json",
        type=Path,
        default=Path(tempfile.gettempdir()) / json_name,
        help="where the results go as JSON (default: %(default)s)",
    )
    add(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a CAMPAIGNS_* setting for every process (repeatable), "
        "e.g. CAMPAIGNS_WORKER_MAX_CACHED_WORKFLOWS=300",
    )
    add(
        "--profile-dir",
        type=Path,
        help="run each worker under cProfile; <worker>.prof lands here (main thread only)",
    )


def settings_of(pairs: Sequence[str]) -> dict[str, str]:
    """``--setting NAME=VALUE``s as an environment; a malformed one is a clear error."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("CAMPAIGNS_"):
            raise SystemExit(f"--setting: expected CAMPAIGNS_NAME=VALUE, got {pair!r}")
        settings[name] = value
    return settings


def worker_counts(text: str) -> list[int]:
    """``--workers 1,2,4``: the series; each a positive integer, or a clear error."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise SystemExit(f"--workers: expected positive integers like 1 or 1,2,4, got {text!r}")
    return counts


@dataclass
class Bench:
    stack: ChaosStack
    api: Api
    client: Client
    ledger: str = "http"
    owners: list[Owner] = field(default_factory=list)
    # Each draft's first-post text (unique), to find its post in the sandbox's ground truth.
    first_texts: dict[str, str] = field(default_factory=dict)

    async def count(self, statuses: Sequence[str]) -> int:
        quoted = ",".join(f"'{s}'" for s in statuses)
        query = f"{SEARCH_ATTRIBUTE_STATUS} IN ({quoted})"
        return (await self.client.count_workflows(query)).count

    async def wait_for_count(self, statuses: Sequence[str], at_least: int, timeout: float) -> float:
        """Waits until ``at_least`` campaigns are in ``statuses``; the monotonic time it saw it."""

        async def enough() -> bool:
            return await self.count(statuses) >= at_least

        await wait_until(f"{at_least} campaigns {'/'.join(statuses)}", enough, timeout, 0.5)
        return time.monotonic()

    async def owner(self, funds: int) -> Owner:
        """An X user, a funded wallet and an API owner."""
        tag = f"{random.getrandbits(40):010x}"
        wallet = self.wallet(f"bench-{tag}-owner")
        owner = Owner(len(self.owners), f"{int(tag, 16) % 10**9:09d}8", wallet)
        user = await self.api.sandbox("POST", "/sandbox/users", {"id": owner.x_user_id})
        owner.token = user["token"]
        await self.api.sandbox(
            "POST", "/sandbox/accounts", {"account": owner.wallet, "balance": funds}
        )
        body = {
            "name": f"Bench owner {tag}",
            "x_user_id": owner.x_user_id,
            "x_access_token": owner.token,
            "wallet": owner.wallet,
        }
        key = self.stack.operator_key
        created = _ok(await self.api.api("POST", "/v1/owners", key, json=body), "owner")
        owner.owner_id, owner.api_key = created["id"], created["api_key"]
        self.owners.append(owner)
        return owner

    def wallet(self, name: str) -> str:
        """A wallet named ``name``: on chain an address of its own (nobody holds its key, so
        its balance is exactly what it was paid), on the HTTP ledger the name itself."""
        if self.ledger == "http":
            return name
        return "0x" + hashlib.sha256(name.encode()).hexdigest()[:40]

    async def participants(self, users: Sequence[str]) -> None:
        rows = [{"x_user_id": u, "wallet": self.wallet(f"w-{u}")} for u in users]
        for start in range(0, len(rows), 10_000):
            chunk = {"participants": rows[start : start + 10_000]}
            key = self.stack.operator_key
            _ok(await self.api.api("POST", "/v1/participants", key, json=chunk), "participants")

    async def drafts(
        self, owner: Owner, count: int, duration: int, poll: int, budget: int, kind: str = "like"
    ) -> list[str]:
        spec = {
            "type": "awareness",
            "asset": "native",
            "budget": budget,
            "rewards": {kind: LIKE_RATE},
            "duration_seconds": duration,
            "poll_interval_seconds": poll,
        }

        async def one(i: int) -> str:
            text = f"Bench {uuid.uuid4().hex[:12]} #{i}: like to earn"
            body = {
                **spec,
                "name": f"Bench #{i}",
                "first_post": {"text": text},
                "second_post": {"text": f"Bench #{i} terms: paid once per person."},
            }
            response = await self.api.api("POST", "/v1/campaigns", owner.api_key, json=body)
            campaign_id = str(_ok(response, f"campaign {i}")["id"])
            self.first_texts[campaign_id] = text
            return campaign_id

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def publish(self, owner: Owner, campaign_id: str, start_at: str | None = None) -> float:
        body = {"start_at": start_at} if start_at else {}
        path = f"/v1/campaigns/{campaign_id}/publish"
        started = time.perf_counter()
        _ok(await self.api.api("POST", path, owner.api_key, json=body), f"publish {campaign_id}")
        return time.perf_counter() - started

    async def status(self, owner: Owner, campaign_id: str) -> dict[str, Any]:
        path = f"/v1/campaigns/{campaign_id}/status"
        doc: dict[str, Any] = _ok(await self.api.api("GET", path, owner.api_key), "status")
        return doc

    async def wait_running(self, owner: Owner, campaign_id: str, timeout: float) -> dict[str, Any]:
        """The first status document showing the campaign running with its post up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = await self.status(owner, campaign_id)
            if doc["posts"]["first"] and doc["status"] not in ("scheduled", "publishing"):
                return doc
            if doc["status"] in TERMINAL:
                raise RuntimeError(f"campaign {campaign_id} ended {doc['status']} before running")
            await asyncio.sleep(1.0)
        raise TimeoutError(f"campaign {campaign_id} not running after {timeout:.0f} s")

    async def first_posts(self, campaign_ids: Sequence[str], timeout: float) -> dict[str, str]:
        """Campaign ID -> its first post's ID, once every one is up. Read from the sandbox's
        ground truth in one request a second: polling each campaign's status would send a
        query per campaign through Temporal to the workers and load what is being measured."""
        wanted = {self.first_texts[c]: c for c in campaign_ids}
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted):
            if time.monotonic() >= deadline:
                missing = len(wanted) - len(found)
                raise TimeoutError(f"{missing} first posts not up after {timeout:.0f} s")
            await asyncio.sleep(1.0)
            for post in (await self.api.sandbox("GET", "/sandbox/truth/posts"))["posts"]:
                if post["text"] in wanted:
                    found[wanted[post["text"]]] = post["id"]
        return found

    async def engage(self, tweet_id: str, users: Sequence[str], kind: str = "like") -> None:
        """Each user engages once; replies and quotes get a text of their own."""
        items = [
            {"user_id": u, "kind": kind}
            if kind == "like"
            else {"user_id": u, "kind": kind, "text": f"{kind} from {u}"}
            for u in users
        ]
        await self.api.sandbox(
            "POST", "/sandbox/engagements", {"tweet_id": tweet_id, "engagements": items}
        )

    async def worker_metric(self, name: str) -> float:
        """The sum of one Prometheus series over every campaign worker."""
        total = 0.0
        async with httpx.AsyncClient(timeout=10) as http:
            for part in self.stack.worker_names:
                port = self.stack.parts[part].env["CAMPAIGNS_WORKER_METRICS_PORT"]
                text = await _metrics_of(http, f"http://127.0.0.1:{port}/metrics")
                total += sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith(name) and line[len(name)] in " {"
                )
        return total

    def worker_rss_mb(self) -> list[float]:
        """Each campaign worker's resident set, from /proc (VmRSS)."""
        return self.rss_mb(self.stack.worker_names)

    def noop_worker_rss_mb(self) -> list[float]:
        """Each no-op bench worker's resident set: the SDK and bare workflows alone."""
        return self.rss_mb([name for name in self.stack.parts if name.startswith(NOOP_PART)])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system, from /proc) used so far by each part of the stack that
        is running, by this process ("bench") and by every PostgreSQL process of the machine
        together ("postgres")."""
        used = {
            name: _cpu_seconds_of(part.process.pid)
            for name, part in self.stack.parts.items()
            if part.process is not None and part.process.poll() is None
        }
        used["bench"] = time.process_time()  # this process: the clients driving the run
        used["postgres"] = sum(
            _cpu_seconds_of(int(entry.name))
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and _command_of(entry) == "postgres"
        )
        return used

    def rss_mb(self, parts: Sequence[str]) -> list[float]:
        sizes = []
        for part in parts:
            process = self.stack.parts[part].process
            assert process is not None
            status = Path(f"/proc/{process.pid}/status").read_text()
            kb = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
            )
            sizes.append(kb / 1024)
        return sizes


def _command_of(proc_entry: Path) -> str:
    try:
        return (proc_entry / "comm").read_text().strip()
    except OSError:  # gone meanwhile
        return ""


def _cpu_seconds_of(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone meanwhile
        return 0.0
    # Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each part used between two ``Bench.cpu_seconds`` readings."""
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


@asynccontextmanager
async def bench_stack(
    options: argparse.Namespace,
    workers: int,
    concurrency: int = 50,
    sqlite: bool = False,
    ledger: str = "http",
    code_dir: Path | None = None,
    label: str = "",
) -> AsyncIterator[Bench]:
    """The stack with ``workers`` campaign workers and as many no-op bench workers, on a
    fresh PostgreSQL schema (or SQLite in the state directory), on the ``ledger`` adapter,
    running the code in ``code_dir`` (a ``snapshot``) if given."""
    state_dir = options.state_dir or Path(tempfile.mkdtemp(prefix="campaigns-bench-"))
    name = f"{label}{'sqlite' if sqlite else 'postgres'}-{ledger}-workers-{workers}"
    run_dir = state_dir / name.replace("http-", "")
    profile_dir = options.profile_dir / run_dir.name if options.profile_dir else None
    stack = ChaosStack(
        run_dir,
        options.postgres_url,
        code_dir=code_dir,
        workers=workers,
        sqlite=sqlite,
        profile_dir=profile_dir,
        ledger=ledger,
        settings=settings_of(options.setting),
    )
    try:
        await stack.start()
        for k in range(1, workers + 1):
            argv = [sys.executable, str(BENCH_DIR / "noop_worker.py"), "--address"]
            argv += [stack.temporal_address, "--task-queue", NOOP_TASK_QUEUE]
            stack.start_part(f"{NOOP_PART}{k}", argv)
        client = await Client.connect(stack.temporal_address)
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:
            api = Api(http, stack.api_url, stack.sandbox_url, concurrency)
            yield Bench(stack, api, client, ledger=ledger)
    finally:
        await stack.stop()
        stack.drop_schema()
        if options.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)


async def _metrics_of(http: httpx.AsyncClient, url: str) -> str:
    """A worker's metrics page; a worker that has just started binds its port a moment after
    it is up, so a refused connection is waited out (a minute at most)."""
    page: list[str] = []

    async def answered() -> bool:
        try:
            page.append((await http.get(url)).text)
        except httpx.TransportError:
            return False
        return True

    await wait_until(f"worker metrics at {url}", answered, timeout=60, interval=0.2)
    return page[-1]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    return {"nproc": os.cpu_count(), "cpu": model, "loadavg": list(os.getloadavg())}


def report(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    path: Path,
    doc: dict[str, Any],
) -> None:
    """Prints the table and writes the JSON (with the machine and its load at the end)."""
    cells = [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    host = machine()
    print(f"{title}  ({host['nproc']} x {host['cpu']}, load {host['loadavg'][0]:.2f})")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"title": title, "machine": host, **doc}, indent=2, default=str))
    print(f"JSON: {path}")


@dataclass(frozen=True)
class CodeRound:
    """One run of ``--code A,B,A,B``: the revision, its unpacked code, how to name it."""

    revision: str | None  # None: the work tree
    code_dir: Path | None
    name: str  # "A #3" when A is named more than once, "work tree" for the work tree
    label: str  # prefix of the run's state directory


def code_rounds(code_option: str | None) -> list[CodeRound]:
    """The revisions ``--code`` names, each unpacked once (``A,B,A,B`` compares before and
    after twice on the same machine state), or the work tree alone."""
    if not code_option:
        return [CodeRound(None, None, "work tree", "")]
    codes = [c.strip() for c in code_option.split(",") if c.strip()]
    root = Path(tempfile.mkdtemp(prefix="campaigns-bench-code-"))
    unpacked: dict[str, Path] = {}
    rounds = []
    for number, code in enumerate(codes, start=1):
        if code not in unpacked:
            unpacked[code] = snapshot(code, root / code)
        again = f" #{number}" if codes.count(code) > 1 else ""
        rounds.append(
            CodeRound(code, unpacked[code], code + again, f"{code}{again.replace(' #', '-')}-")
        )
    return rounds
