"""Effects under business keys: prepared before they are sent, their result recorded after.

States: ``prepared`` (never sent), ``unknown`` (sent, outcome not known: a post must be looked
up before it is sent again), ``done`` (result recorded: returned, never repeated), ``failed``
(refused for good; sending again is allowed). Synchronous: call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from clients.ports import ExternalError, PermanentError, RateLimited
from core.db import SessionFactory
from core.models import Effect
from core.types import utcnow

PREPARED, UNKNOWN, DONE, FAILED = "prepared", "unknown", "done", "failed"


@dataclass(frozen=True)
class EffectRecord:
    key: str
    state: str
    result: dict[str, Any] | None
    attempts: int
    created_at: datetime
    request: dict[str, Any]


def _record(effect: Effect) -> EffectRecord:
    return EffectRecord(
        effect.key, effect.state, effect.result, effect.attempts, effect.created_at, effect.request
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
                return _record(effect)
            effect = Effect(key=key, campaign_id=campaign_id, kind=kind, request=request)
            session.add(effect)
            try:
                session.commit()
            except IntegrityError:  # another attempt prepared it a moment ago
                session.rollback()
                effect = session.get(Effect, key)
                assert effect is not None
            return _record(effect)

    def _update(self, key: str, **values: Any) -> None:
        with self._sessions() as session:
            effect = session.get(Effect, key)
            if effect is None:
                raise KeyError(key)
            for name, value in values.items():
                setattr(effect, name, value)
            effect.updated_at = utcnow()
            session.add(effect)
            session.commit()

    def mark_sending(self, key: str, attempts: int) -> None:
        self._update(key, state=UNKNOWN, attempts=attempts + 1)

    def mark_not_sent(self, key: str, error: str) -> None:
        self._update(key, state=PREPARED, error=error[:2000])

    def complete(self, key: str, result: dict[str, Any]) -> None:
        self._update(key, state=DONE, result=result, error=None)

    def fail(self, key: str, error: str) -> None:
        self._update(key, state=FAILED, error=error[:2000])

    def done(self, campaign_id: str, kinds: tuple[str, ...]) -> list[EffectRecord]:
        with self._sessions() as session:
            rows = session.exec(
                select(Effect)
                .where(Effect.campaign_id == campaign_id)
                .where(Effect.state == DONE)
                .where(Effect.kind.in_(kinds))  # type: ignore[attr-defined]
                .order_by(Effect.created_at)  # type: ignore[arg-type]
            ).all()
            return [_record(effect) for effect in rows]


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
        return record.result
    await asyncio.to_thread(store.mark_sending, key, record.attempts)
    try:
        result = await send()
    except RateLimited as error:
        await asyncio.to_thread(store.mark_not_sent, key, str(error))
        raise
    except PermanentError as error:
        await asyncio.to_thread(store.fail, key, str(error))
        raise
    except ExternalError:
        raise  # outcome unknown: stays ``unknown``; the key makes the resend safe
    await asyncio.to_thread(store.complete, key, result)
    return result
