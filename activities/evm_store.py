"""The ``TransactionStore`` of ``clients.evm_transactions`` in the database, so every worker
process sees the same signed transactions and never hands out a nonce twice.

The tables (migration 0003) are described here with SQLAlchemy Core, not SQLModel: they are
the EVM adapter's bookkeeping, read by nothing else. Database calls are synchronous and run
on a thread (``asyncio.to_thread``), as the protocol is async.

Two promises rest on single statements, so they hold across processes:
- ``save``: ``INSERT ... ON CONFLICT (key) DO NOTHING`` and a read of the key in one
  transaction; the first save of a key wins, a later one gets the first back.
- ``reserve_nonce``: ``INSERT ... ON CONFLICT (sender) DO UPDATE ... RETURNING``: PostgreSQL
  locks the sender's row until the transaction ends, SQLite serializes every write; either way
  two reservations never read the same ``next_nonce``.
``save_signed`` does both in one database transaction, signing in between: a worker killed
halfway commits neither, and a key a rival saved first rolls the reservation back, so no
nonce is ever spent without its transaction saved (a gap would block every later one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from clients.evm_transactions import StoredTransaction
from core.db import SessionFactory

METADATA = MetaData()
TRANSACTION = Table(
    "evm_transaction",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("escrow_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("sender", String(42), nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("raw", Text, nullable=False),
    Column("hash", String(66), nullable=False),
)
COVER = Table(
    "evm_transaction_cover",
    METADATA,
    Column("transaction_id", Integer, ForeignKey("evm_transaction.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("transfer_key", String(200), nullable=False),
    Column("recipient", String(200), nullable=False),
)
NONCE = Table(
    "evm_nonce",
    METADATA,
    Column("sender", String(42), primary_key=True),
    Column("next_nonce", BigInteger, nullable=False),
)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _upsert(session: Session, table: Table):  # type: ignore[no-untyped-def]
    """The dialect's INSERT, which has ``on_conflict_*`` on both backends we run on."""
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class _KeyTaken(Exception):
    """A rival saved this key first (raised inside the transaction to roll it back)."""


def _reserve(session: Session, sender: str, chain_nonce: int) -> int:
    insert = _upsert(session, NONCE).values(sender=sender, next_nonce=chain_nonce + 1)
    # above both what the chain has seen and what was reserved before
    higher = (func.greatest if _dialect(session) == "postgresql" else func.max)(
        NONCE.c.next_nonce, literal(chain_nonce, BigInteger)
    )
    statement = insert.on_conflict_do_update(
        index_elements=[NONCE.c.sender], set_={"next_nonce": higher + 1}
    ).returning(NONCE.c.next_nonce)
    return int(session.execute(statement).scalar_one()) - 1


def _insert(session: Session, tx: StoredTransaction) -> bool:
    """Insert ``tx`` and its covers; False when a transaction is saved under its key."""
    row = {
        "key": tx.key,
        "escrow_id": tx.escrow_id,
        "kind": tx.kind,
        "sender": tx.sender,
        "nonce": tx.nonce,
        "raw": tx.raw,
        "hash": tx.hash,
    }
    statement = (
        _upsert(session, TRANSACTION)
        .values(**row)
        .on_conflict_do_nothing(index_elements=[TRANSACTION.c.key])
        .returning(TRANSACTION.c.id)
    )
    inserted = session.execute(statement).scalar_one_or_none()
    if inserted is not None and tx.covers:
        session.execute(
            COVER.insert(),
            [
                {
                    "transaction_id": inserted,
                    "position": position,
                    "transfer_key": transfer_key,
                    "recipient": recipient,
                }
                for position, (transfer_key, recipient) in enumerate(tx.covers)
            ],
        )
    return inserted is not None


class DatabaseTransactionStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def reserve_nonce(self, sender: str, chain_nonce: int) -> int:
        return await asyncio.to_thread(self._reserve_nonce, sender, chain_nonce)

    async def save(self, tx: StoredTransaction) -> StoredTransaction:
        return await asyncio.to_thread(self._save, tx)

    async def carrying(self, key: str) -> list[StoredTransaction]:
        covering = select(COVER.c.transaction_id).where(COVER.c.transfer_key == key)
        where = (TRANSACTION.c.key == key) | TRANSACTION.c.id.in_(covering)
        return await asyncio.to_thread(self._load, where)

    async def of_escrow(self, escrow_id: str) -> list[StoredTransaction]:
        return await asyncio.to_thread(self._load, TRANSACTION.c.escrow_id == escrow_id)

    async def between(self, sender: str, low: int, high: int) -> list[StoredTransaction]:
        where = (
            (TRANSACTION.c.sender == sender)
            & (TRANSACTION.c.nonce >= low)
            & (TRANSACTION.c.nonce < high)
        )
        found = await asyncio.to_thread(self._load, where)
        return sorted(found, key=lambda tx: tx.nonce)

    async def save_signed(
        self, key: str, sender: str, chain_nonce: int, sign: Callable[[int], StoredTransaction]
    ) -> StoredTransaction:
        return await asyncio.to_thread(self._save_signed, key, sender, chain_nonce, sign)

    def _reserve_nonce(self, sender: str, chain_nonce: int) -> int:
        with self._sessions() as session, session.begin():
            return _reserve(session, sender, chain_nonce)

    def _save(self, tx: StoredTransaction) -> StoredTransaction:
        with self._sessions() as session, session.begin():
            inserted = _insert(session, tx)
        if inserted:
            return tx
        (first,) = self._load(TRANSACTION.c.key == tx.key)
        return first

    def _save_signed(
        self, key: str, sender: str, chain_nonce: int, sign: Callable[[int], StoredTransaction]
    ) -> StoredTransaction:
        if saved := self._load(TRANSACTION.c.key == key):
            return saved[0]
        try:
            with self._sessions() as session, session.begin():
                tx = sign(_reserve(session, sender, chain_nonce))
                if not _insert(session, tx):
                    raise _KeyTaken  # rolls the reservation back with it
            return tx
        except _KeyTaken:
            (first,) = self._load(TRANSACTION.c.key == key)
            return first

    def _load(self, where) -> list[StoredTransaction]:  # type: ignore[no-untyped-def]
        with self._sessions() as session:
            rows = session.execute(select(TRANSACTION).where(where).order_by(TRANSACTION.c.id))
            transactions = list(rows)
            ids = [row.id for row in transactions]
            covers: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
            if ids:
                cover_rows = session.execute(
                    select(COVER)
                    .where(COVER.c.transaction_id.in_(ids))
                    .order_by(COVER.c.transaction_id, COVER.c.position)
                )
                for cover in cover_rows:
                    covers[cover.transaction_id].append((cover.transfer_key, cover.recipient))
        return [
            StoredTransaction(
                row.key,
                row.escrow_id,
                row.kind,
                row.sender,
                int(row.nonce),
                row.raw,
                row.hash,
                tuple(covers[row.id]),
            )
            for row in transactions
        ]
