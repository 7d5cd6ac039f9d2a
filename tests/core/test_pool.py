"""One bounded pool per process: 100 concurrent sessions never exceed it on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import event, text

from core.config import Settings
from core.db import make_engine, session_factory

SESSIONS = 100


class PoolWatch:
    """Counts this engine's checked-out and opened connections through the pool's events."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.lock = threading.Lock()
        self.checked_out = 0
        self.peak_checked_out = 0
        self.opened = 0
        self.saturated = threading.Event()

    def on_connect(self, *_args: Any) -> None:
        with self.lock:
            self.opened += 1

    def on_checkout(self, *_args: Any) -> None:
        with self.lock:
            self.checked_out += 1
            self.peak_checked_out = max(self.peak_checked_out, self.checked_out)
            if self.checked_out >= self.pool_size:
                self.saturated.set()

    def on_checkin(self, *_args: Any) -> None:
        with self.lock:
            self.checked_out -= 1


def test_hundred_concurrent_sessions_stay_within_the_pool(postgres_url: str) -> None:
    pool_size = Settings().db_pool_size
    application_name = f"pool-test-{uuid.uuid4().hex[:8]}"
    engine = make_engine(
        f"{postgres_url}&application_name={application_name}",
        pool_size=pool_size,
        max_overflow=0,
    )
    watch = PoolWatch(pool_size)
    event.listen(engine, "connect", watch.on_connect)
    event.listen(engine, "checkout", watch.on_checkout)
    event.listen(engine, "checkin", watch.on_checkin)
    new_session = session_factory(engine)
    count_ours = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
    ).bindparams(name=application_name)

    def one_session(_: int) -> int:
        with new_session() as session:
            seen = int(session.connection().execute(count_ours).scalar_one())
            # Hold the connection until the pool is full once, so the bound is really tested.
            assert watch.saturated.wait(timeout=60), "the pool never filled up"
            return seen

    try:
        with ThreadPoolExecutor(max_workers=SESSIONS) as threads:
            seen_by_each = list(threads.map(one_session, range(SESSIONS)))
    finally:
        engine.dispose()

    assert len(seen_by_each) == SESSIONS
    # Each session sees at least itself (the name reached PostgreSQL), never more than the pool.
    assert min(seen_by_each) >= 1
    assert max(seen_by_each) <= pool_size
    assert watch.peak_checked_out == pool_size
    assert watch.opened <= pool_size
    assert watch.checked_out == 0
