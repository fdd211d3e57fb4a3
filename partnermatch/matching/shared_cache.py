"""The shared embedding cache's table, on the application's metadata so that migrations
create it (the cache itself, partnermatch.matching.cache, is plain SQLAlchemy Core)."""

from __future__ import annotations

from partnermatch.extensions import db
from partnermatch.matching.cache import embedding_table

EMBEDDING_CACHE_TABLE = embedding_table(db.metadata)
