"""The shared embedding cache: vectors kept in the programme's database, for every machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from partnermatch.matching.cache import DatabaseEmbeddingCache, SharedStore, text_hash
from partnermatch.matching.extension import embedding_store
from partnermatch.matching.shared_cache import EMBEDDING_CACHE_TABLE

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def shared(db, model_id: str = "minilm") -> DatabaseEmbeddingCache:
    return DatabaseEmbeddingCache(db.engine, EMBEDDING_CACHE_TABLE, model_id, 3)


def test_a_vector_one_machine_stores_is_read_by_another(db):
    writer, reader = shared(db), shared(db)
    key = text_hash("High-pressure die casting of aluminium parts.")

    writer.put_many({key: np.array([0.6, 0.8, 0.0], dtype=np.float32)})

    assert reader.count() == 1
    np.testing.assert_array_equal(reader.get_many([key])[key], np.float32([0.6, 0.8, 0.0]))
    assert reader.get_many([text_hash("never encoded")]) == {}


def test_a_vector_stored_twice_keeps_the_first_and_models_never_mix(db):
    first, second, other_model = shared(db), shared(db), shared(db, "multilingual-e5-small")
    key = text_hash("UN38.3 battery testing")
    first.put_many({key: np.ones(3, dtype=np.float32)})

    second.put_many({key: np.zeros(3, dtype=np.float32)})  # a second worker, a race lost

    np.testing.assert_array_equal(first.get_many([key])[key], np.ones(3))
    assert other_model.get_many([key]) == {} and other_model.count() == 0


def test_many_vectors_are_read_and_written_in_batches(db):
    cache = shared(db)
    vectors = {text_hash(f"passage {n}"): np.full(3, n, dtype=np.float32) for n in range(1234)}

    cache.put_many(vectors)

    found = cache.get_many(list(vectors))
    assert len(found) == 1234 and found[text_hash("passage 1233")][0] == 1233


def test_the_setting_chooses_the_store(app, tmp_path):
    app.config["EMBEDDING_CACHE"] = "database"
    assert isinstance(embedding_store(app, tmp_path), SharedStore)
    app.config["EMBEDDING_CACHE"] = str(tmp_path / "cache.sqlite3")
    assert embedding_store(app, tmp_path) == tmp_path / "cache.sqlite3"
    app.config["EMBEDDING_CACHE"] = None
    on_postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    expected = SharedStore if on_postgresql else Path
    assert isinstance(embedding_store(app, tmp_path), expected)
