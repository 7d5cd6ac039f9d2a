"""Faults hit the X and ledger APIs, never the /sandbox controls."""

from __future__ import annotations

import pytest

from clients.ports import RateLimited, RetryableError
from tests.helpers import assert_eventually
from tests.sandbox.world import SandboxWorld


async def test_faults_leave_the_controls_alone(world: SandboxWorld) -> None:
    await world.faults(error_rate=1.0, lose_response_rate=1.0)
    assert await world.posts() == []
    assert await world.fund("owner", 5) == 5
    faults = await world.control("GET", "/faults")
    assert faults["error_rate"] == 1.0


async def test_target_limits_faults_to_one_api(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    await world.faults(error_rate=1.0, target="ledger")
    await x.create_post("x is fine")
    with pytest.raises(RetryableError):
        await world.ledger().get_escrow("esc-1")


async def test_lost_responses_commit_then_fail_both_ways(world: SandboxWorld) -> None:
    x = world.x(await world.user("1001"))
    await world.faults(lose_response_rate=1.0, seed=11)
    causes = set()
    for n in range(12):
        with pytest.raises(RetryableError) as caught:
            await x.create_post(f"lost {n}")
        causes.add("server error" in str(caught.value))
    await world.clear_faults()
    assert causes == {True, False}  # both 5xx answers and dropped connections occurred
    assert len(await world.posts()) == 12


async def test_rate_limit_window_resets(world: SandboxWorld) -> None:
    post = await world.x(await world.user("1001")).create_post("limited")
    await world.faults(rate_limit={"limit": 1, "window_s": 0.3})
    reader = world.x()
    await reader.post_metrics(post.id)
    with pytest.raises(RateLimited):
        await reader.post_metrics(post.id)

    async def served_again() -> int:
        # A fresh client: this one must not remember the old window.
        try:
            return (await world.x().post_metrics(post.id)).like_count
        except RateLimited as limited:
            raise AssertionError("still limited") from limited

    likes: int = await assert_eventually(served_again, timeout=5)
    assert likes == 0


async def test_rate_limit_headers_on_every_x_answer(world: SandboxWorld) -> None:
    post = await world.x(await world.user("1001")).create_post("headers")
    await world.faults(rate_limit={"limit": 5, "window_s": 60})
    answer = await world.http.get(
        f"{world.url}/2/tweets/{post.id}", headers={"authorization": "Bearer app"}
    )
    assert answer.headers["x-rate-limit-limit"] == "5"
    assert answer.headers["x-rate-limit-remaining"] == "4"
    assert int(answer.headers["x-rate-limit-reset"]) > 0
