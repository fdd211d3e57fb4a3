"""Wiring the engine into an application: one engine per app (with what it keeps between
requests), the models shared per process (their weights are read-only: two apps in one
process, as the test suite makes, need not load them twice)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from partnermatch.extensions import db
from partnermatch.matching import journal
from partnermatch.matching.cache import CacheStore, SharedStore
from partnermatch.matching.embedder import Embedder, MultilingualEmbedder, resolve_model
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.multilingual import MultilingualMode, multilingual_mode
from partnermatch.matching.shared_cache import EMBEDDING_CACHE_TABLE
from partnermatch.profiles.index_source import SqlProfileSource

EXTENSION_KEY = "matching"


def embedding_store(app: Flask, data_dir: Path) -> CacheStore:
    """Where vectors are cached: EMBEDDING_CACHE = "database" (the default on PostgreSQL:
    one cache for every machine of the programme) or an SQLite file (the default beside the
    index otherwise)."""
    setting = app.config["EMBEDDING_CACHE"]
    on_postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    if setting == "database" or (not setting and on_postgresql):
        with app.app_context():
            return SharedStore(db.engine, EMBEDDING_CACHE_TABLE)
    return Path(setting or data_dir / "embedding-cache.sqlite3")


def init_matching(app: Flask) -> None:
    """Create the app's matching engine; the models themselves load on first use."""
    data_dir = Path(app.config["DATA_DIR"])
    cache_path = embedding_store(app, data_dir)
    threads = app.config["EMBEDDING_THREADS"]
    models_dir = Path(app.config["MODELS_DIR"] or data_dir / "models")
    spec = resolve_model(app.config["EMBEDDING_MODEL"], app.config["ENCODER_BACKEND"], models_dir)
    embedder = Embedder(spec, cache_path=cache_path, threads=threads)
    mode = multilingual_mode(app.config["MULTILINGUAL"])
    multilingual = (
        MultilingualEmbedder(cache_path, threads=threads)
        if mode is not MultilingualMode.OFF
        else None
    )
    app.extensions[EXTENSION_KEY] = MatchingEngine(
        data_dir / "index", embedder, multilingual, mode, source=SqlProfileSource()
    )
    journal.start_journal()


def get_engine() -> MatchingEngine:
    """Return the matching engine of the current application."""
    return current_app.extensions[EXTENSION_KEY]
