"""A storage of your own: the cache's entries in one SQLite file, shared by every process on a machine.

This is CONTRIBUTING.md's storage recipe, run by ``tests/storages/test_sqlite_example.py``
against the storage contract. ``get`` and ``set`` are all a storage needs; the other methods
are the optional capabilities (``docs/storages.md``, "Your own storage"), each one SQLite
statement or transaction:

- ``collect``: removes an entry (without it, invalidation writes an empty one);
- ``get_many``: a hit reads an index and a response in one call;
- ``acquire_lock`` / ``release_lock``: a cold URL runs its handler once across processes;
- ``compare_and_set``: a response is stored only while its index holds what the request saw;
- ``storage_time``, ``compare_and_set_grouped``, ``invalidate_groups``, ``group_members``,
  ``remove_all``: cache groups, purges on every host, and ``purge_all``.

Use it as ``CacheMiddleware(SQLiteCacheStorage("/var/cache/app/cache.sqlite"))``.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from chocs_middleware.cache import CacheError, CacheItem

__all__ = ["SQLiteCacheStorage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, body BLOB, expires REAL, bookkeeping INTEGER);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, token TEXT, expires REAL);
CREATE TABLE IF NOT EXISTS members (grp TEXT, member TEXT, until REAL, PRIMARY KEY (grp, member));
CREATE TABLE IF NOT EXISTS invalidations (grp TEXT PRIMARY KEY, at REAL, until REAL);
"""
_EVERYTHING = ""
"""The invalidation ``remove_all`` records: no group id is empty."""


class SQLiteCacheStorage:
    """Cache entries in a SQLite database file (``":memory:"``: this process only)."""

    def __init__(self, path: str) -> None:
        # One connection per storage, used under a lock: sqlite3 connections are not shared across
        # threads otherwise. isolation_level=None: every statement commits, unless in ``_step``.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._last_time = 0.0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- what every storage has --------------------------------------------------------------

    def get(self, item_id: str) -> CacheItem:
        with self._lock:
            row = self._db.execute(
                "SELECT body, expires FROM items WHERE id = ? AND expires > ?", (item_id, time.time())
            ).fetchone()
        if row is None:
            raise CacheError.for_not_found(item_id)
        return _item(item_id, row[0], row[1])

    def set(self, item: CacheItem) -> None:
        with self._lock:
            self._write(item)

    # -- optional capabilities ---------------------------------------------------------------

    def collect(self, item: CacheItem) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE id = ?", (item.id,))

    def get_many(self, item_ids: Sequence[str]) -> list[CacheItem | None]:
        marks = ", ".join("?" * len(item_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT id, body, expires FROM items WHERE id IN ({marks}) AND expires > ?", (*item_ids, time.time())
            ).fetchall()
        found = {item_id: _item(item_id, body, expires) for item_id, body, expires in rows}
        return [found.get(item_id) for item_id in item_ids]

    def acquire_lock(self, name: str, ttl: float) -> str | None:
        token, now = secrets.token_hex(16), time.time()
        with self._step() as db:
            db.execute("DELETE FROM locks WHERE name = ? AND expires <= ?", (name, now))
            taken = db.execute("INSERT OR IGNORE INTO locks VALUES (?, ?, ?)", (name, token, now + ttl)).rowcount
        return token if taken else None

    def release_lock(self, name: str, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM locks WHERE name = ? AND token = ?", (name, token))

    def compare_and_set(self, guard_id: str, expected: bytes | None, items: Sequence[CacheItem]) -> bool:
        with self._step():
            if self._current(guard_id) != expected:
                return False
            for item in items:
                self._write(item)
            return True

    def storage_time(self) -> float:
        """This machine's clock, never going back in this process (every process shares the machine's)."""
        self._last_time = max(self._last_time, time.time())
        return self._last_time

    def compare_and_set_grouped(
        self,
        guard_id: str,
        expected: bytes | None,
        items: Sequence[CacheItem],
        listings: Sequence[tuple[str, str]],
        checked: Sequence[str],
        since: float,
    ) -> bool | None:
        with self._step() as db:
            names = [*checked, _EVERYTHING]
            marks = ", ".join("?" * len(names))
            invalidated = db.execute(
                f"SELECT 1 FROM invalidations WHERE grp IN ({marks}) AND at >= ? AND until > ?",
                (*names, since, time.time()),
            ).fetchone()
            if invalidated is not None:
                return None
            if self._current(guard_id) != expected:
                return False
            for item in items:
                self._write(item)
            until = max((item.expires_at_timestamp for item in items), default=time.time())
            db.executemany(
                "INSERT OR REPLACE INTO members VALUES (?, ?, MAX(?, COALESCE("
                "(SELECT until FROM members WHERE grp = ? AND member = ?), 0)))",
                [(group, member, until, group, member) for group, member in listings],
            )
            return True

    def invalidate_groups(self, group_ids: Sequence[str], keep_for: int) -> int:
        now = self.storage_time()
        marks = ", ".join("?" * len(group_ids))
        with self._step() as db:
            db.executemany(
                "INSERT OR REPLACE INTO invalidations VALUES (?, ?, ?)",
                [(group, now, now + keep_for) for group in group_ids],
            )
            removed = db.execute(
                f"DELETE FROM items WHERE expires > ? AND id IN (SELECT member FROM members WHERE grp IN ({marks}))",
                (time.time(), *group_ids),
            ).rowcount
            db.execute(f"DELETE FROM members WHERE grp IN ({marks})", tuple(group_ids))
        return int(removed)

    def group_members(self, group_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT member FROM members WHERE grp = ? AND until > ?", (group_id, time.time())
            ).fetchall()
        return [member for (member,) in rows]

    def remove_all(self, keep_for: int) -> int:
        now = self.storage_time()
        with self._step() as db:
            removed = db.execute(
                "SELECT COUNT(*) FROM items WHERE expires > ? AND bookkeeping = 0 AND body != x''", (time.time(),)
            ).fetchone()[0]
            db.execute("DELETE FROM items")
            db.execute("DELETE FROM members")
            db.execute("INSERT OR REPLACE INTO invalidations VALUES (?, ?, ?)", (_EVERYTHING, now, now + keep_for))
        return int(removed)

    # -- helpers -------------------------------------------------------------------------------

    @contextmanager
    def _step(self) -> Iterator[sqlite3.Connection]:
        """One transaction that other processes see whole (BEGIN IMMEDIATE takes the write lock first)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _current(self, item_id: str) -> bytes | None:
        """The live, non-empty body under ``item_id``, or ``None``."""
        row = self._db.execute(
            "SELECT body FROM items WHERE id = ? AND expires > ? AND body != x''", (item_id, time.time())
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _write(self, item: CacheItem) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?)",
            (item.id, item.body, item.expires_at_timestamp, int(item.bookkeeping)),
        )


def _item(item_id: str, body: bytes, expires: float) -> CacheItem:
    now = time.time()
    return CacheItem(item_id, bytes(body), max(0, int(expires - now)), now=now)
