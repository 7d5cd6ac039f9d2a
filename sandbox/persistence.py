"""The sandbox's world on disk: one SQLite file, one row per thing, written before answering.

Why SQLite rows and not a JSON snapshot: a snapshot rewrites the whole world on every change,
so a chaos run with thousands of engagers slows down as the world grows; here a change writes
only the things it touched (``XWorld.dirty`` / ``LedgerBook.dirty``), in one transaction, and
the route answers after the commit, so a process killed mid-run never forgets an effect it
has already confirmed (the same promise the ledger makes about its keys).

Every row is ``(kind, id, doc)`` with a JSON document; a new kind of thing (the EVM ledger's
accounts and receipts, say) is one more kind with a ``to_doc``/``from_doc`` pair below.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.ledger_book import LedgerBook, LedgerEscrow, Operation, TransferRecord, transfer_of
from sandbox.x_media import MediaUpload
from sandbox.x_world import XPost, XUser, XWorld

SCHEMA_VERSION = 1


class SandboxStoreError(Exception):
    """A state file that cannot be opened or read, explained in one line."""


def _fields(thing: object) -> dict[str, Any]:
    """A dataclass's fields, shallow: ``asdict`` deep-copies every list (a post's likers) and
    was most of the cost of a save. Safe because the document is encoded right away, under
    the lock."""
    return dict(vars(thing))


def _media_doc(upload: MediaUpload) -> dict[str, Any]:
    doc = _fields(upload)
    doc["chunks"] = {str(i): base64.b64encode(c).decode() for i, c in upload.chunks.items()}
    return doc


def _media_from(doc: dict[str, Any]) -> MediaUpload:
    chunks = {int(i): base64.b64decode(c) for i, c in doc.pop("chunks").items()}
    return MediaUpload(**doc, chunks=chunks)


def _dated(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "created_at": datetime.fromisoformat(doc["created_at"])}


def _x_document(x: XWorld, kind: str, key: str) -> dict[str, Any] | None:
    if kind == "user":
        return _fields(x.users[key]) if key in x.users else None
    if kind == "post":
        return _fields(x.posts[key]) if key in x.posts else None
    if kind == "media":
        return _media_doc(x.media[key]) if key in x.media else None
    if kind == "revoked":
        return {} if key in x.revoked_tokens else None
    raise ValueError(f"unknown X kind {kind!r}")


def _ledger_document(ledger: LedgerBook, kind: str, key: str) -> dict[str, Any] | None:
    if kind == "wallet":
        return {"balance": ledger.wallets[key]} if key in ledger.wallets else None
    if kind == "escrow":
        return _fields(ledger.escrows[key]) if key in ledger.escrows else None
    if kind == "operation":
        return _fields(ledger.operations[key]) if key in ledger.operations else None
    raise ValueError(f"unknown ledger kind {kind!r}")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__}")


# One encoder for every document: json.dumps with ``default=`` builds a new one per call (a
# 20,000-payout distribution saves 40,000 documents).
_encode = json.JSONEncoder(default=_json_default).encode


class SandboxStore:
    """The state file. Callers hold the sandbox lock around ``save``, so writes never
    interleave; ``save`` may run on a worker thread (hence ``check_same_thread=False``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # WAL + NORMAL: a commit survives the process being killed (not a power cut),
            # and costs a write, not an fsync.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS entities ("
                " kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
                " PRIMARY KEY (kind, id))"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            (version,) = self._db.execute(
                "SELECT value FROM meta WHERE name = 'schema_version'"
            ).fetchone()
        except sqlite3.Error as error:
            raise SandboxStoreError(f"sandbox state file {path}: {error}") from None
        if int(version) != SCHEMA_VERSION:
            raise SandboxStoreError(
                f"sandbox state file {path} has schema {version}, this sandbox reads "
                f"{SCHEMA_VERSION}; delete it to start over"
            )

    def close(self) -> None:
        self._db.close()

    def rows(self, x: XWorld, ledger: LedgerBook) -> list[tuple[str, str, str | None]]:
        """What the changes since the last call look like on disk; clears the dirty sets.
        Runs under the lock: the documents are a consistent picture of the world."""
        documents = [(kind, key, _x_document(x, kind, key)) for kind, key in x.dirty]
        documents += [(k, key, _ledger_document(ledger, k, key)) for k, key in ledger.dirty]
        rows = [(kind, key, None if doc is None else _encode(doc)) for kind, key, doc in documents]
        x.dirty.clear()
        ledger.dirty.clear()
        return rows

    def save(self, rows: list[tuple[str, str, str | None]]) -> None:
        if not rows:
            return
        with self._db:  # one transaction: a change is on disk whole or not at all
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO entities VALUES (?, ?, ?)",
                [row for row in rows if row[2] is not None],
            )
            self._db.executemany(
                "DELETE FROM entities WHERE kind = ? AND id = ?",
                [(kind, key) for kind, key, doc in rows if doc is None],
            )

    def load(self) -> tuple[XWorld, LedgerBook]:
        by_kind: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, key, doc in self._db.execute("SELECT kind, id, doc FROM entities"):
            by_kind.setdefault(kind, {})[key] = json.loads(doc)

        def docs(kind: str) -> dict[str, dict[str, Any]]:
            return by_kind.get(kind, {})

        x = XWorld()
        x.restore(
            users=[XUser(**d) for d in docs("user").values()],
            posts=[XPost(**_dated(d)) for d in docs("post").values()],
            media=[_media_from(d) for d in docs("media").values()],
            revoked=set(docs("revoked")),
        )
        ledger = LedgerBook()
        escrows = {key: LedgerEscrow(**d) for key, d in docs("escrow").items()}
        operations = [Operation(**_dated(d)) for d in docs("operation").values()]
        # Files from before transfers were rebuilt from their operations still hold them.
        saved = {d["id"]: TransferRecord(**_dated(d)) for d in docs("transfer").values()}
        in_order = sorted(operations, key=lambda op: int(op.id.split("-", 1)[1]))
        transfers = [saved.get(op.id) or transfer_of(op, escrows[op.escrow_id]) for op in in_order]
        ledger.restore(
            wallets={account: int(d["balance"]) for account, d in docs("wallet").items()},
            escrows=list(escrows.values()),
            operations=operations,
            transfers=[t for t in transfers if t is not None],
        )
        return x, ledger
