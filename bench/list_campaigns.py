"""The campaign list with 100,000 campaigns: query plans and times, on SQLite and PostgreSQL.

    .venv/bin/python bench/list_campaigns.py [--rows 100000] [--postgres URL | --no-postgres]

Runs the API's own list query (api.campaign_store.list_campaigns) for each filter, prints the
plan of the page query (it must walk an ix_campaign_* index, not sort the table) and the median
time of the page and count queries together.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.campaign_store import CampaignFilter, list_campaigns
from core.db import make_engine
from core.migrate import upgrade
from core.models import Campaign, Owner

STATUSES = ["draft", "running", "closed", "cancelled", "failed", "paused"]
OWNERS = 200


def seed(engine: Engine, rows: int) -> str:
    rng = random.Random(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    owner_ids = [uuid.uuid4().hex for _ in range(OWNERS)]
    with Session(engine) as session:
        session.execute(
            insert(Owner.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": o,
                    "name": f"o{i}",
                    "x_user_id": str(i),
                    "wallet": f"w{i}",
                    "created_at": start,
                }
                for i, o in enumerate(owner_ids)
            ],
        )
        batch: list[dict[str, Any]] = []
        for i in range(rows):
            created = start + timedelta(seconds=i * 30)
            batch.append(
                {
                    "id": uuid.uuid4().hex,
                    "owner_id": rng.choice(owner_ids),
                    "name": f"campaign {i}",
                    "type": "quest" if rng.random() < 0.2 else "awareness",
                    "asset": "native",
                    "budget": 1_000_000,
                    "spec": {"name": f"campaign {i}"},
                    "status": rng.choice(STATUSES),
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if len(batch) == 5000:
                session.execute(insert(Campaign.__table__), batch)  # type: ignore[attr-defined]
                batch = []
        if batch:
            session.execute(insert(Campaign.__table__), batch)  # type: ignore[attr-defined]
        session.commit()
        session.execute(text("ANALYZE"))
        session.commit()
    return owner_ids[0]


def plan(session: Session, where: CampaignFilter) -> str:
    statement = select(Campaign)
    for name in ("status", "type", "owner_id"):
        value = getattr(where, name)
        if value is not None:
            statement = statement.where(getattr(Campaign, name) == value)
    statement = statement.order_by(col(Campaign.created_at).desc(), col(Campaign.id).desc()).limit(
        20
    )
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if session.get_bind().dialect.name == "sqlite" else "EXPLAIN "
    rows = session.execute(text(prefix + str(compiled))).all()
    return " | ".join(str(row[-1]) for row in rows)


def measure(engine: Engine, label: str, rows: int) -> None:
    owner = seed(engine, rows)
    print(f"\n== {label}: {rows:,} campaigns")
    cases = {
        "no filter": CampaignFilter(),
        "status=running": CampaignFilter(status="running"),
        "type=quest": CampaignFilter(type="quest"),
        "owner": CampaignFilter(owner_id=owner),
        "owner+status": CampaignFilter(owner_id=owner, status="closed"),
    }
    with Session(engine) as session:
        for name, where in cases.items():
            _, total = list_campaigns(session, where, page=1, page_size=20)
            for page in sorted({1, max(1, min(50, total // 20))}):
                times = []
                for _ in range(7):
                    began = time.perf_counter()
                    items, total = list_campaigns(session, where, page=page, page_size=20)
                    times.append(time.perf_counter() - began)
                assert len(items) == 20, (name, page, len(items))
                print(
                    f"  {name:<15} page {page:<3} total {total:>7,}  "
                    f"median {statistics.median(times) * 1000:7.2f} ms"
                )
            print(f"    plan: {plan(session, where)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CAMPAIGNS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        measure(engine, "SQLite", args.rows)
        engine.dispose()

    if args.no_postgres:
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{separator}options=-csearch_path%3D{schema}"
        upgrade(url)
        engine = make_engine(url)
        measure(engine, "PostgreSQL", args.rows)
        engine.dispose()
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
