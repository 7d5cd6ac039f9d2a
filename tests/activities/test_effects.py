"""The effect rows only move forward (prepared -> unknown -> done | failed), on both databases,
even when two attempts of the same effect race on their own threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.effects import DONE, FAILED, PREPARED, UNKNOWN, EffectStore, keyed_effect
from clients.ports import InsufficientFunds, RateLimited, RetryableError
from core.db import session_factory
from core.models import Campaign, Owner
from core.types import utcnow

RACES = 20


@pytest.fixture
def store(engine: Engine) -> EffectStore:
    return EffectStore(session_factory(engine))


@pytest.fixture
def campaign_id(engine: Engine) -> str:
    with Session(engine) as session:
        owner = Owner(name="Ada", x_user_id="1000", wallet="wallet-owner")
        session.add(owner)
        session.commit()
        campaign = Campaign(
            owner_id=owner.id, name="c", type="awareness", asset="native", budget=1, spec={}
        )
        session.add(campaign)
        session.commit()
        return campaign.id


def prepare(store: EffectStore, key: str, campaign_id: str) -> None:
    store.prepare(key, campaign_id=campaign_id, kind="lock", request={"amount": 1})


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on their own threads, released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as error:  # re-raised below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_two_attempts_completing_at_once_keep_the_first_result(
    store: EffectStore, campaign_id: str
) -> None:
    for n in range(RACES):
        key = f"{campaign_id}:race:{n}"
        prepare(store, key, campaign_id)
        first, second = race(
            partial(store.complete, key, {"receipt_id": "a"}),
            partial(store.complete, key, {"receipt_id": "b"}),
        )
        stored = store.get(key)
        assert stored is not None and stored.state == DONE
        # Both attempts answer with the one result that stays recorded.
        assert first == second == stored.result
        assert stored.result in ({"receipt_id": "a"}, {"receipt_id": "b"})


def test_two_attempts_sending_at_once_count_both_and_only_one_was_first(
    store: EffectStore, campaign_id: str
) -> None:
    for n in range(RACES):
        key = f"{campaign_id}:race:{n}"
        prepare(store, key, campaign_id)
        first, second = race(partial(store.mark_sending, key), partial(store.mark_sending, key))
        assert sorted([first.previous, second.previous]) == [PREPARED, UNKNOWN]
        assert sorted([first.attempt, second.attempt]) == [1, 2]
        stored = store.get(key)
        assert stored is not None and stored.state == UNKNOWN and stored.attempts == 2


def test_a_late_send_racing_a_completion_never_undoes_it(
    store: EffectStore, campaign_id: str
) -> None:
    for n in range(RACES):
        key = f"{campaign_id}:race:{n}"
        prepare(store, key, campaign_id)
        store.mark_sending(key)
        race(partial(store.complete, key, {"receipt_id": "a"}), partial(store.mark_sending, key))
        stored = store.get(key)
        assert stored is not None
        assert (stored.state, stored.result) == (DONE, {"receipt_id": "a"})


def test_a_late_attempt_after_done_leaves_done_and_the_first_result(
    store: EffectStore, campaign_id: str
) -> None:
    key = f"{campaign_id}:lock"
    prepare(store, key, campaign_id)
    store.mark_sending(key)
    assert store.complete(key, {"receipt_id": "first"}) == {"receipt_id": "first"}
    late = store.mark_sending(key)
    assert late.previous == DONE
    assert store.complete(key, {"receipt_id": "late"}) == {"receipt_id": "first"}
    assert store.fail(key, "late refusal").state == DONE
    store.record_error(key, "late rate limit")
    stored = store.get(key)
    assert stored is not None
    assert (stored.state, stored.result, stored.error) == (DONE, {"receipt_id": "first"}, None)


def test_failed_is_terminal(store: EffectStore, campaign_id: str) -> None:
    key = f"{campaign_id}:lock"
    prepare(store, key, campaign_id)
    store.mark_sending(key)
    assert store.fail(key, "insufficient funds").state == FAILED
    assert store.mark_sending(key).previous == FAILED
    with pytest.raises(ApplicationError) as refused:
        store.complete(key, {"receipt_id": "late"})
    assert refused.value.non_retryable and "insufficient funds" in str(refused.value)
    stored = store.get(key)
    assert stored is not None and (stored.state, stored.result) == (FAILED, None)


async def test_a_rate_limit_after_an_unknown_send_stays_unknown(
    store: EffectStore, campaign_id: str
) -> None:
    key = f"{campaign_id}:lock"

    async def lost() -> dict[str, Any]:
        raise RetryableError("ledger POST /lock: 503")

    async def limited() -> dict[str, Any]:
        raise RateLimited("ledger POST /lock: 429", reset_at=utcnow())

    for send in (lost, limited):
        with pytest.raises((RetryableError, RateLimited)):
            await keyed_effect(
                store, key, campaign_id=campaign_id, kind="lock", request={}, send=send
            )
    stored = store.get(key)
    assert stored is not None
    assert (stored.state, stored.attempts) == (UNKNOWN, 2)
    assert stored.error is not None and "429" in stored.error


async def test_a_rate_limited_first_send_leaves_the_effect_never_sent(
    store: EffectStore, campaign_id: str
) -> None:
    key = f"{campaign_id}:lock"

    async def limited() -> dict[str, Any]:
        raise RateLimited("ledger POST /lock: 429", reset_at=utcnow())

    with pytest.raises(RateLimited):
        await keyed_effect(
            store, key, campaign_id=campaign_id, kind="lock", request={}, send=limited
        )
    stored = store.get(key)
    assert stored is not None
    assert (stored.state, stored.attempts) == (PREPARED, 0)
    assert stored.error is not None and "429" in stored.error


def test_a_rate_limit_does_not_withdraw_a_send_another_attempt_started(
    store: EffectStore, campaign_id: str
) -> None:
    key = f"{campaign_id}:lock"
    prepare(store, key, campaign_id)
    refused = store.mark_sending(key)
    store.mark_sending(key)  # a concurrent attempt sends meanwhile
    store.refused_unsent(key, refused, "429")
    stored = store.get(key)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.error) == (UNKNOWN, 2, "429")


async def test_keyed_effect_refuses_to_send_a_failed_effect_again(
    store: EffectStore, campaign_id: str
) -> None:
    key = f"{campaign_id}:lock"
    sent: list[str] = []

    async def refused() -> dict[str, Any]:
        sent.append("refused")
        raise InsufficientFunds("wallet holds 0, cannot lock 5", status=409)

    async def would_succeed() -> dict[str, Any]:
        sent.append("again")
        return {"receipt_id": "r"}

    with pytest.raises(InsufficientFunds):
        await keyed_effect(
            store, key, campaign_id=campaign_id, kind="lock", request={}, send=refused
        )
    with pytest.raises(ApplicationError) as again:
        await keyed_effect(
            store, key, campaign_id=campaign_id, kind="lock", request={}, send=would_succeed
        )
    assert again.value.non_retryable
    assert "wallet holds 0, cannot lock 5" in str(again.value)
    assert sent == ["refused"]
