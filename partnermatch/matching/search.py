"""Semantic search: the one entry point that views, the CLI, the API and benchmarks call."""

from __future__ import annotations

from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.explain import SearchResults, explain_search
from partnermatch.profiles.services import ProfileFilters


def search(
    engine: MatchingEngine,
    query: str,
    filters: ProfileFilters | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResults:
    """Return the profiles that best match a plain-language query, with reasons and evidence."""
    page = engine.search(query, filters, limit=limit, offset=offset)
    return explain_search(page, query, filters)
