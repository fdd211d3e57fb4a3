"""A persistent embedding cache: a text encoded once by a model is never encoded again."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID
"""
# SQLite caps the number of bound parameters per statement.
LOOKUP_BATCH = 500


def text_hash(text: str) -> bytes:
    """Return the cache key of a text: its SHA-256 digest."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors keyed by (model id, text hash) in an SQLite file beside the index.

    A separate file, not the main database: it is derived data, it can be large, and it
    works the same whether the programme's database is SQLite or PostgreSQL.
    """

    def __init__(self, path: Path, model_id: str, dimension: int) -> None:
        self.path = path
        self.model_id = model_id
        self.dimension = dimension
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get_many(self, hashes: Iterable[bytes]) -> dict[bytes, np.ndarray]:
        """Return the cached vectors for those hashes that are in the cache."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[bytes, np.ndarray] = {}
        with self._connect() as connection:
            for start in range(0, len(wanted), LOOKUP_BATCH):
                batch = wanted[start : start + LOOKUP_BATCH]
                placeholders = ",".join("?" * len(batch))
                rows = connection.execute(
                    f"SELECT text_hash, vector FROM embeddings "
                    f"WHERE model_id = ? AND text_hash IN ({placeholders})",
                    (self.model_id, *batch),
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: dict[bytes, np.ndarray]) -> None:
        """Store vectors; a key already present is left as it is."""
        if not vectors:
            return
        rows = [
            (self.model_id, key, np.asarray(vector, dtype=np.float32).tobytes())
            for key, vector in vectors.items()
        ]
        with self._lock, self._connect() as connection:
            connection.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, text_hash, vector) VALUES (?, ?, ?)",
                rows,
            )

    def count(self) -> int:
        """Return how many vectors this model has in the cache."""
        with self._connect() as connection:
            return connection.execute(
                "SELECT count(*) FROM embeddings WHERE model_id = ?", (self.model_id,)
            ).fetchone()[0]
