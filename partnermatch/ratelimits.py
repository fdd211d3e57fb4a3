"""Rate-limit counters that every worker of a machine sees, without Redis.

Flask-Limiter keeps its counters in a storage of the `limits` library. Its own storages are
process memory (each gunicorn worker counts alone: with two workers a limit of 10 let 20
through) or servers (Redis, Memcached, MongoDB). Without Redis, PartnerMatch keeps them in a
small SQLite file under DATA_DIR that every worker opens: a `limits` storage registered for
the scheme ``partnermatch+sqlite``, so Flask-Limiter uses it like any other, by its URI.
With PARTNERMATCH_REDIS_URL the counters live in Redis instead (several machines).

A counter is one row (key, count, expires_at); an increment is one UPSERT, atomic under
SQLite's write lock, in a file apart from the application's database so that counting never
waits for (or holds up) a write to the data.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from limits.storage import Storage

SCHEME = "partnermatch+sqlite"
# Expired rows are deleted by every this many increments of a process.
PRUNE_EVERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limits (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
)
"""
# A counter past its expiry starts again from this hit, with a new expiry (a fixed window).
_INCREMENT = """
INSERT INTO rate_limits (key, count, expires_at) VALUES (:key, :amount, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN excluded.count ELSE count + excluded.count END,
    expires_at = CASE WHEN expires_at <= :now THEN excluded.expires_at ELSE expires_at END
RETURNING count
"""


def storage_uri(data_dir: str | os.PathLike[str]) -> str:
    """Return the storage URI of the counters file in a data folder."""
    return f"{SCHEME}://{Path(data_dir).resolve() / 'rate-limits.sqlite3'}"


class SQLiteStorage(Storage):
    """A `limits` storage in one SQLite file shared by the processes of a machine (fixed
    window strategy, Flask-Limiter's default)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = Path(unquote(urlsplit(uri).path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._increments = 0
        with self._connection() as connection:
            connection.execute(_SCHEMA)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: a gunicorn worker forks after nothing, but a
        # connection must never cross a fork or a thread.
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        connection = self._connection()
        (count,) = connection.execute(
            _INCREMENT, {"key": key, "amount": amount, "expires_at": now + expiry, "now": now}
        ).fetchone()
        self._increments += 1
        if self._increments % PRUNE_EVERY == 0:
            connection.execute("DELETE FROM rate_limits WHERE expires_at <= ?", (now,))
        return int(count)

    def _current(self, key: str) -> tuple[int, float] | None:
        return (
            self._connection()
            .execute(
                "SELECT count, expires_at FROM rate_limits WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            )
            .fetchone()
        )

    def get(self, key: str) -> int:
        row = self._current(key)
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._current(key)
        return float(row[1]) if row else time.time()

    def check(self) -> bool:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._connection().execute("DELETE FROM rate_limits").rowcount

    def clear(self, key: str) -> None:
        self._connection().execute("DELETE FROM rate_limits WHERE key = ?", (key,))
