"""A persistent embedding cache: a text encoded once by a model is never encoded again.

Two stores with one interface (get_many, put_many, count): an SQLite file beside the index
(EmbeddingCache, the embedded default) and a table of the programme's PostgreSQL database
(DatabaseEmbeddingCache), shared by every machine that encodes for that programme, so a text
encoded by one worker is never encoded by another.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Column as SqlColumn
from sqlalchemy import Engine, LargeBinary, MetaData, String, Table, func, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

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


def embedding_table(metadata: MetaData) -> Table:
    """The shared cache's table, on the application's metadata (so migrations see it)."""
    return Table(
        "embedding_cache",
        metadata,
        SqlColumn("model_id", String(200), primary_key=True),
        SqlColumn("text_hash", LargeBinary(32), primary_key=True),
        SqlColumn("vector", LargeBinary, nullable=False),
    )


class DatabaseEmbeddingCache:
    """Vectors keyed by (model id, text hash) in the programme's database: the cache every
    machine shares when the database is PostgreSQL (see open_cache)."""

    def __init__(self, engine: Engine, table: Table, model_id: str, dimension: int) -> None:
        self.engine = engine
        self.table = table
        self.model_id = model_id
        self.dimension = dimension

    def get_many(self, hashes: Iterable[bytes]) -> dict[bytes, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[bytes, np.ndarray] = {}
        columns = self.table.c
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), LOOKUP_BATCH):
                rows = connection.execute(
                    select(columns.text_hash, columns.vector).where(
                        columns.model_id == self.model_id,
                        columns.text_hash.in_(wanted[start : start + LOOKUP_BATCH]),
                    )
                )
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: dict[bytes, np.ndarray]) -> None:
        """Store vectors; a key already present (another worker's) is left as it is."""
        if not vectors:
            return
        rows = [
            {
                "model_id": self.model_id,
                "text_hash": key,
                "vector": np.asarray(vector, dtype=np.float32).tobytes(),
            }
            for key, vector in vectors.items()
        ]
        if self.engine.dialect.name == "postgresql":
            statement = postgresql_insert(self.table).on_conflict_do_nothing()
        else:
            statement = insert(self.table).prefix_with("OR IGNORE")
        with self.engine.begin() as connection:
            for start in range(0, len(rows), LOOKUP_BATCH):
                connection.execute(statement, rows[start : start + LOOKUP_BATCH])

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(
                select(func.count())
                .select_from(self.table)
                .where(self.table.c.model_id == self.model_id)
            )


@dataclass(frozen=True)
class SharedStore:
    """Where a shared cache lives: the programme's database and the cache's table."""

    engine: Engine
    table: Table


CacheStore = Path | SharedStore  # an SQLite file, or the programme's database


def open_cache(
    store: CacheStore, model_id: str, dimension: int
) -> EmbeddingCache | DatabaseEmbeddingCache:
    if isinstance(store, SharedStore):
        return DatabaseEmbeddingCache(store.engine, store.table, model_id, dimension)
    return EmbeddingCache(store, model_id, dimension)
