"""What happens to each campaign during a chaos run (its role's script), and the chaos done to
the whole stack meanwhile (sandbox faults, 429 bursts, worker kills, restarts).

Every wait is on a condition (the status document) with a deadline; the only plain sleeps are
the schedule itself (when the next wave or fault comes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from chaos_stack import ChaosStack, run_command
from chaos_world import TERMINAL, Api, CampaignRun

from core.contracts import workflow_id_for
from core.devserver import find_binary

STATE_TIMEOUT = 60.0
PAUSE_HOLD_SECONDS = 3.0


@dataclass
class Driver:
    api: Api
    stack: ChaosStack
    duration: int

    async def status(self, run: CampaignRun) -> dict[str, Any] | None:
        path = f"/v1/campaigns/{run.campaign_id}/status"
        try:
            response = await self.api.api("GET", path, run.plan.owner.api_key, retry_for=30)
        except httpx.HTTPError as error:  # the API not answering is a figure, not a crash
            run.note(f"status: {type(error).__name__} for 30 s")
            return None
        if response.status_code != 200:
            run.note(f"status: {response.status_code} {response.text[:100]}")
            return None
        doc: dict[str, Any] = response.json()
        return doc

    async def wait_for(
        self,
        run: CampaignRun,
        what: str,
        ready: Callable[[dict[str, Any]], bool],
        timeout: float = STATE_TIMEOUT,
    ) -> dict[str, Any] | None:
        """The first status document for which ``ready`` holds (or that is terminal)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = await self.status(run)
            if doc is not None and (ready(doc) or doc["status"] in TERMINAL):
                return doc
            await asyncio.sleep(0.5)
        run.note(f"gave up waiting for {what} after {timeout:.0f} s")
        return None

    async def message(self, run: CampaignRun, name: str) -> None:
        path = f"/v1/campaigns/{run.campaign_id}/{name}"
        response = await self.api.api("POST", path, run.plan.owner.api_key, json={})
        run.note(f"{name} -> {response.status_code} {response.text[:120]}")

    async def temporal_cancel(self, run: CampaignRun) -> None:
        """The Web UI's button, from the command line: a WorkflowExecutionCancelRequested."""
        argv = [str(find_binary("temporal")), "workflow", "cancel", "--address"]
        argv += [self.stack.temporal_address, "--workflow-id", workflow_id_for(run.campaign_id)]
        deadline = time.monotonic() + STATE_TIMEOUT
        while (code := await run_command(argv)) != 0 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(1)  # Temporal may be restarting
        run.note(f"temporal workflow cancel -> exit {code}")

    async def engage(self, run: CampaignRun, items: list[dict[str, str]], what: str) -> None:
        doc = await self.status(run)
        if not items or doc is None or doc["status"] in TERMINAL or not doc["posts"]["first"]:
            return
        body = {"tweet_id": doc["posts"]["first"], "engagements": items}
        response = await self.api.call(
            "POST", f"{self.api.sandbox_url}/sandbox/engagements", json=body
        )
        run.note(f"{what}: {len(items)} engagements -> {response.status_code}")

    # --- top-ups ---------------------------------------------------------------------

    async def top_up_once(self, run: CampaignRun, key: str, amount: int, how: str) -> bool:
        """One POST with the key; a 202 is followed to its Location. True if it settled."""
        path = f"/v1/campaigns/{run.campaign_id}/top-up"
        owner_key = run.plan.owner.api_key
        attempt: dict[str, Any] = {"key": key, "amount": amount, "how": how}
        try:
            response = await self.api.api(
                "POST",
                path,
                owner_key,
                json={"amount": amount},
                headers={"Idempotency-Key": key},
                retry_for=0,
            )
            deadline = time.monotonic() + STATE_TIMEOUT
            while response.status_code == 202 and time.monotonic() < deadline:
                location = response.headers.get("location", path)
                await asyncio.sleep(0.5)
                url = location if location.startswith("http") else f"{self.api.api_url}{location}"
                response = await self.api.call("GET", url, key=owner_key, retry_for=10)
            attempt["status"] = response.status_code
            attempt["answer"] = response.json() if response.content else None
        except Exception as error:  # a lost answer is an outcome to record, not a crash
            attempt["status"], attempt["answer"] = None, f"{type(error).__name__}: {error}"
        run.top_up_attempts.append(attempt)
        run.note(f"top-up {key} ({how}) -> {attempt['status']} {str(attempt['answer'])[:80]}")
        # Settled: done, or refused for a reason a retry cannot change. A 404 after a 202
        # means the campaign never took it (say, Temporal lost it restarting): send it again.
        return attempt["status"] in (200, 409, 422)

    async def top_ups(self, run: CampaignRun) -> None:
        """The first key: once, then twice at the same time, then once more; the others once.
        Every key is then sent again until it settles (Temporal may be down for a while)."""
        for n, (key, amount) in enumerate(run.plan.top_ups):
            settled = await self.top_up_once(run, key, amount, "first" if n == 0 else "single")
            if n == 0:
                both = await asyncio.gather(
                    self.top_up_once(run, key, amount, "concurrent"),
                    self.top_up_once(run, key, amount, "concurrent"),
                )
                retried = await self.top_up_once(run, key, amount, "retry")
                settled = settled or any(both) or retried
            deadline = time.monotonic() + STATE_TIMEOUT
            while not settled and time.monotonic() < deadline:
                await asyncio.sleep(1)
                settled = await self.top_up_once(run, key, amount, "retry")

    # --- the roles -------------------------------------------------------------------

    async def drive(self, run: CampaignRun) -> None:
        try:
            await self._drive(run)
        except Exception as error:  # one campaign's script failing must not stop the others
            run.note(f"script error: {type(error).__name__}: {error}")

    async def _drive(self, run: CampaignRun) -> None:
        role, plan = run.plan.role, run.plan
        response = await self.api.api(
            "POST", f"/v1/campaigns/{run.campaign_id}/publish", plan.owner.api_key, json={}
        )
        run.note(f"publish -> {response.status_code}")
        if role == "cancel-while-publishing":
            await self.temporal_cancel(run)
            return
        if role == "top-up-early":
            await self.top_ups(run)
        running = await self.wait_for(run, "running", lambda d: d["status"] == "running", 120)
        if running is None or running["status"] in TERMINAL:
            return
        running_at = time.monotonic()
        run.note("running")
        await self.engage(run, plan.waves[0], "wave 1")
        if role in ("temporal-cancel", "api-cancel"):
            await self.wait_for(
                run, "engagers seen", lambda d: d["engagement"]["unique_engagers"] > 0
            )
            await (
                self.temporal_cancel(run)
                if role == "temporal-cancel"
                else self.message(run, "cancel")
            )
        elif role in ("top-up", "pause-then-cancel"):
            await self.message(run, "pause")
            await self.wait_for(run, "paused", lambda d: d["status"] == "paused")
            if role == "pause-then-cancel":
                await self.message(run, "cancel")
                return
            await asyncio.sleep(PAUSE_HOLD_SECONDS)
            await self.message(run, "resume")
            await self.wait_for(run, "resumed", lambda d: d["status"] != "paused")
            await self.top_ups(run)
            await self.engage(run, plan.waves[1] + plan.waves[2], "waves 2 and 3")
            await self.engage(run, plan.surge, "surge")
        else:
            for n, wave in enumerate(plan.waves[1:], start=1):
                await asyncio.sleep(max(0.0, running_at + n * self.duration / 3 - time.monotonic()))
                await self.engage(run, wave, f"wave {n + 1}")


@dataclass
class ChaosEvents:
    """What was done to the stack, and when (seconds from the first publish)."""

    log: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    faults_cleared: bool = False
    kills: int = 0
    temporal_restarts: int = 0
    postgres_restarts: int = 0

    def note(self, what: str) -> None:
        self.log.append(f"+{time.monotonic() - self.started:6.1f}s {what}")


async def _rate_limit_burst(api: Api, events: ChaosEvents, faults: dict[str, Any]) -> None:
    """A few calls per 3 s window for 4 s (X's 429 with its reset), then the plain faults."""
    if events.faults_cleared:
        return
    burst = {**faults, "rate_limit": {"limit": 3, "window_s": 3}}
    await api.sandbox("PUT", "/sandbox/faults", burst)
    events.note("429 burst on")
    await asyncio.sleep(4)
    if not events.faults_cleared:
        await api.sandbox("PUT", "/sandbox/faults", faults)
        events.note("429 burst off")


async def clear_faults_after(api: Api, events: ChaosEvents, seconds: float) -> None:
    """The storm passes: faults off, so a campaign whose final fetch keeps failing gets to
    finish within the run (how long that took is in the figures)."""
    await asyncio.sleep(seconds)
    events.faults_cleared = True
    await api.sandbox("DELETE", "/sandbox/faults")
    events.note("sandbox faults off")


async def run_chaos(
    api: Api,
    stack: ChaosStack,
    events: ChaosEvents,
    *,
    window: float,
    kills: int,
    restart_temporal: bool,
    restart_postgres: bool,
    faults: dict[str, Any],
    rng: random.Random,
) -> None:
    """Faults on, then kills and restarts at random moments within ``window`` seconds."""
    started = events.started = time.monotonic()
    note = events.note
    await api.sandbox("PUT", "/sandbox/faults", faults)
    note(f"sandbox faults on: {faults}")
    # One kill at a random moment in each K-th of the window, so kills spread over the
    # phases (publishing, running, closing, distributing) instead of bunching up.
    share = (window - 1) / max(1, kills)
    plan = [(1 + rng.uniform(k * share, (k + 1) * share), "kill") for k in range(kills)]
    plan += [(rng.uniform(1, window), "burst") for _ in range(2)]
    if restart_temporal:
        plan.append((rng.uniform(window / 4, window), "temporal"))
    if restart_postgres:
        plan.append((rng.uniform(window / 4, window), "postgres"))
    for at, what in sorted(plan):
        await asyncio.sleep(max(0.0, started + at - time.monotonic()))
        if what == "kill":
            victim = rng.choice(stack.worker_names)
            await stack.kill_worker(victim)
            events.kills += 1
            note(f"{victim} SIGKILLed and restarted (kill {events.kills})")
        elif what == "burst":
            await _rate_limit_burst(api, events, faults)
        elif what == "temporal":
            note("Temporal dev server stopping")
            down = await stack.restart_temporal()
            events.temporal_restarts += 1
            note(f"Temporal dev server back after {down:.1f} s")
        else:
            note("PostgreSQL restarting")
            down = await stack.restart_postgres()
            events.postgres_restarts += 1
            note(f"PostgreSQL restarted in {down:.1f} s")
