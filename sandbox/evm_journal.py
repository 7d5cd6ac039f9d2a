"""The sandbox's chain on disk: the state-changing JSON-RPC calls it took, in order.

A chain is not kept as its state (py-evm's trie has no file here) but as the calls that made
it: the node's set-up is fixed and its blocks are repeatable (``sandbox.evm_backend``), so
replaying the calls on a fresh node gives the same chain, block hashes and receipts included.
Each call is written, with its answer, before that answer leaves, like every change of the
sandbox's world (``sandbox.persistence``); the answer is checked again on replay, so a chain
that does not come back the same is an error, never a quietly different world.

The journal is a table of its own in the state file (a state file from before it opens, and
gets the table), on a connection of its own: the node writes it from its own thread while
the world's saves run under the world's lock.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.persistence import SandboxStoreError

# The calls that change the chain: new transactions and mined blocks. Reads, estimates and
# filters change nothing that must come back.
JOURNALED_METHODS = frozenset({"eth_sendRawTransaction", "eth_sendTransaction", "evm_mine"})


class ChainJournalError(SandboxStoreError):
    """A journal that cannot be read or replayed, explained in one line (``campaigns
    sandbox`` prints it as a bad state file)."""


@dataclass(frozen=True)
class JournaledCall:
    method: str
    params: list[Any]
    result: Any


class ChainJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS evm_calls (seq INTEGER PRIMARY KEY,"
                " method TEXT NOT NULL, params TEXT NOT NULL, result TEXT NOT NULL)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            # the chain's genesis time is fixed when its journal is made, so it replays
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('evm_genesis_timestamp', ?)",
                (str(int(time.time())),),
            )
            (genesis,) = self._db.execute(
                "SELECT value FROM meta WHERE name = 'evm_genesis_timestamp'"
            ).fetchone()
        except sqlite3.Error as error:
            raise ChainJournalError(f"sandbox state file {path}: {error}") from None
        self.genesis_timestamp = int(genesis)

    def calls(self) -> list[JournaledCall]:
        rows = self._db.execute("SELECT method, params, result FROM evm_calls ORDER BY seq")
        return [JournaledCall(m, json.loads(p), json.loads(r)) for m, p, r in rows]

    def record(self, method: str, params: list[Any], result: Any) -> None:
        self._db.execute(
            "INSERT INTO evm_calls (method, params, result) VALUES (?, ?, ?)",
            (method, json.dumps(params), json.dumps(result)),
        )

    def close(self) -> None:
        self._db.close()
