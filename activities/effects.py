"""Effects under business keys: prepared before they are sent, their result recorded after.

States only move forward: ``prepared`` (never sent) -> ``unknown`` (sent at least once, outcome
not known: a post is looked up before it is sent again) -> ``done`` (result recorded: returned,
never repeated) or ``failed`` (refused for good: never sent again). Activities run at least
once, and a timed-out attempt may still be running beside its retry, so every write is an
``UPDATE ... WHERE state IN (<predecessors>)``: a late or concurrent attempt cannot undo
another's progress, and the first result recorded is the one every attempt returns.

One step back is allowed, and only to an attempt's own mark: when the receiver refused the
very first send (a rate limit: nothing was sent) and no attempt has started sending since,
the row is put back exactly as it was before that attempt (``prepared``, not counted), so the
next attempt need not spend a rate-limited look-up on a post that cannot exist.
Synchronous: call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from clients.ports import ExternalError, PermanentError, RateLimited
from core.db import SessionFactory
from core.metrics import RECORDED, activity_meter, count_effect_found_done
from core.models import Effect
from core.types import utcnow

PREPARED, UNKNOWN, DONE, FAILED = "prepared", "unknown", "done", "failed"
SENDABLE = (PREPARED, UNKNOWN)
EFFECT: Table = Effect.__table__  # type: ignore[attr-defined]
MAX_ERROR = 2000


@dataclass(frozen=True)
class EffectRecord:
    key: str
    campaign_id: str
    state: str
    result: dict[str, Any] | None
    attempts: int
    created_at: datetime
    request: dict[str, Any]
    error: str | None = None


@dataclass(frozen=True)
class Sending:
    """What ``mark_sending`` found: the state before this attempt (``done`` or ``failed``
    when another attempt finished first and nothing changed) and this attempt's number."""

    previous: str
    attempt: int


def record_of(effect: Effect) -> EffectRecord:
    """The plain record of a row (what callers keep once its session has closed)."""
    return EffectRecord(
        effect.key,
        effect.campaign_id,
        effect.state,
        effect.result,
        effect.attempts,
        effect.created_at,
        effect.request,
        effect.error,
    )


def failed_for_good(record: EffectRecord) -> ApplicationError:
    """The effect was refused for good: sending it again cannot succeed (and must not)."""
    return ApplicationError(
        f"effect {record.key} failed for good and is not sent again: {record.error}",
        type="EffectFailed",
        non_retryable=True,
    )


class EffectStore:
    def __init__(self, session_factory: SessionFactory) -> None:
        self._sessions = session_factory

    def prepare(
        self, key: str, *, campaign_id: str, kind: str, request: dict[str, Any]
    ) -> EffectRecord:
        """The effect under ``key``, created ``prepared`` if it is new."""
        with self._sessions() as session:
            effect = session.get(Effect, key)
            if effect is not None:
                return record_of(effect)
            effect = Effect(key=key, campaign_id=campaign_id, kind=kind, request=request)
            session.add(effect)
            try:
                session.commit()
            except IntegrityError:  # another attempt prepared it a moment ago
                session.rollback()
                effect = session.get(Effect, key)
                assert effect is not None
            return record_of(effect)

    def get(self, key: str) -> EffectRecord | None:
        with self._sessions() as session:
            effect = session.get(Effect, key)
            return record_of(effect) if effect is not None else None

    @staticmethod
    def _current(session: Session, key: str) -> EffectRecord:
        session.expire_all()  # the row as committed now, not as this session last saw it
        effect = session.get(Effect, key)
        if effect is None:
            raise KeyError(key)
        return record_of(effect)

    def mark_sending(self, key: str) -> Sending:
        """Note that this attempt is about to send: ``unknown`` from now on, one more attempt."""
        with self._sessions() as session:
            # One statement per predecessor, so exactly one attempt learns it sent first.
            for previous in SENDABLE:
                attempt = session.execute(
                    update(EFFECT)
                    .where(EFFECT.c.key == key, EFFECT.c.state == previous)
                    .values(state=UNKNOWN, attempts=EFFECT.c.attempts + 1, updated_at=utcnow())
                    .returning(EFFECT.c.attempts)
                ).scalar_one_or_none()
                if attempt is not None:
                    session.commit()
                    return Sending(previous, int(attempt))
            current = self._current(session, key)
            return Sending(current.state, current.attempts)

    def record_error(self, key: str, error: str) -> None:
        """Note why an attempt stopped without changing the state (a rate limit: the effect may
        still have been sent by an earlier attempt)."""
        self._move(key, SENDABLE, error=error[:MAX_ERROR])

    def refused_unsent(self, key: str, sending: Sending, error: str) -> None:
        """The receiver refused this attempt's send before acting on it (a rate limit). Only
        if this was the first send ever and no attempt has started since is the effect
        ``prepared`` again; otherwise an earlier or concurrent send may have gone through,
        and the state stays (an ``unknown`` post is looked up next time)."""
        if sending.previous == PREPARED and sending.attempt == 1:
            with self._sessions() as session:
                withdrawn = self._move_in(
                    session,
                    key,
                    (UNKNOWN,),
                    attempts_now=sending.attempt,
                    state=PREPARED,
                    attempts=EFFECT.c.attempts - 1,
                    error=error[:MAX_ERROR],
                )
            if withdrawn:
                return
        self.record_error(key, error)

    def complete(self, key: str, result: dict[str, Any]) -> dict[str, Any]:
        """Record the result; the first recorded result wins and is what every caller gets."""
        with self._sessions() as session:
            if self._move_in(session, key, SENDABLE, state=DONE, result=result, error=None):
                return result
            current = self._current(session, key)
        if current.state == DONE and current.result is not None:
            return current.result
        raise ApplicationError(
            f"effect {key} was recorded {current.state} ({current.error}) by another attempt; "
            f"this attempt's result {result} is not recorded",
            type="EffectFailed",
            non_retryable=True,
        )

    def fail(self, key: str, error: str) -> EffectRecord:
        """Record the refusal; the row afterwards (``done`` if another attempt finished first)."""
        with self._sessions() as session:
            self._move_in(session, key, SENDABLE, state=FAILED, error=error[:MAX_ERROR])
            return self._current(session, key)

    def _move(self, key: str, allowed: Sequence[str], **values: Any) -> bool:
        with self._sessions() as session:
            return self._move_in(session, key, allowed, **values)

    @staticmethod
    def _move_in(
        session: Session,
        key: str,
        allowed: Sequence[str],
        *,
        attempts_now: int | None = None,
        **values: Any,
    ) -> bool:
        statement = update(EFFECT).where(EFFECT.c.key == key, EFFECT.c.state.in_(allowed))
        if attempts_now is not None:
            statement = statement.where(EFFECT.c.attempts == attempts_now)
        moved = session.execute(
            statement.values(updated_at=utcnow(), **values).returning(EFFECT.c.key)
        ).first()
        session.commit()
        return moved is not None

    def of_campaign(
        self, campaign_id: str, kinds: Sequence[str], states: Sequence[str] = (DONE,)
    ) -> list[EffectRecord]:
        with self._sessions() as session:
            rows = session.execute(
                select(Effect)
                .where(EFFECT.c.campaign_id == campaign_id)
                .where(EFFECT.c.state.in_(states))
                .where(EFFECT.c.kind.in_(kinds))
                .order_by(EFFECT.c.created_at)
            ).scalars()
            return [record_of(effect) for effect in rows]

    def done(self, campaign_id: str, kinds: tuple[str, ...]) -> list[EffectRecord]:
        return self.of_campaign(campaign_id, kinds)

    def campaign_with_result(
        self, kinds: Sequence[str], field: str, value: str, *, other_than: str
    ) -> str | None:
        """A campaign other than ``other_than`` whose done effect recorded ``field: value``
        (a post that campaign made and no other campaign may adopt)."""
        with self._sessions() as session:
            return session.execute(
                select(EFFECT.c.campaign_id)
                .where(EFFECT.c.state == DONE)
                .where(EFFECT.c.kind.in_(kinds))
                .where(EFFECT.c.campaign_id != other_than)
                .where(EFFECT.c.result[field].as_string() == value)
                .limit(1)
            ).scalar_one_or_none()


async def keyed_effect(
    store: EffectStore,
    key: str,
    *,
    campaign_id: str,
    kind: str,
    request: dict[str, Any],
    send: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run an effect whose receiver takes the key (the ledger): a repeat with the same key is
    answered with the first result, so an unknown outcome is simply sent again."""
    record = await asyncio.to_thread(
        store.prepare, key, campaign_id=campaign_id, kind=kind, request=request
    )
    if record.state == DONE and record.result is not None:
        count_effect_found_done(activity_meter(), kind, RECORDED)
        return record.result
    if record.state == FAILED:
        raise failed_for_good(record)
    sending = await asyncio.to_thread(store.mark_sending, key)
    if sending.previous in (DONE, FAILED):  # another attempt finished in between
        return await _recorded_result(store, key)
    try:
        result = await send()
    except RateLimited as error:
        await asyncio.to_thread(store.refused_unsent, key, sending, str(error))
        raise
    except PermanentError as error:
        after = await asyncio.to_thread(store.fail, key, str(error))
        if after.state == DONE and after.result is not None:
            return after.result
        raise
    except ExternalError:
        raise  # outcome unknown: stays ``unknown``; the key makes the resend safe
    return await asyncio.to_thread(store.complete, key, result)


async def _recorded_result(store: EffectStore, key: str) -> dict[str, Any]:
    record = await asyncio.to_thread(store.get, key)
    assert record is not None
    if record.state == DONE and record.result is not None:
        return record.result
    raise failed_for_good(record)
