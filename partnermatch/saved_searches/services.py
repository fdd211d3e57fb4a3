"""Saved searches and their weekly digest: the rules, no HTTP. Services flush; callers commit."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import select

from partnermatch.auth.models import User
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.matching import strength
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.search import search
from partnermatch.notifications.services import notify
from partnermatch.profiles.services import ProfileFilters
from partnermatch.reference import N_
from partnermatch.saved_searches.models import SavedSearch
from partnermatch.timeutil import utcnow

MAX_NAME = 120
# The search page's query-string names of the filters, by ProfileFilters field.
FILTER_ARGS = {
    "kind": "kind",
    "affiliations": "affiliation",
    "economies": "economy",
    "exclude_economies": "exclude_economy",
    "sectors": "sector",
    "value_chain": "value_chain",
}
# A weekly digest: a saved search digested less than this long ago is not due (so a second
# run in the same week, or a cron a little early, sends nothing).
DIGEST_INTERVAL = timedelta(days=6)
# How many of the best matches a digest looks through, and names in its message.
DIGEST_SEARCH_LIMIT = 200
DIGEST_NAMES_SHOWN = 5
DIGEST_MESSAGE = N_("New profiles match your saved search “%(search)s”: %(names)s")
DIGEST_MESSAGE_MORE = N_(
    "New profiles match your saved search “%(search)s”: %(names)s and %(more)s more"
)


def _name(name: str) -> str:
    return clean_text(name, "name", max_length=MAX_NAME, required=True)


def filters_record(filters: ProfileFilters) -> dict[str, Any]:
    """The filters a saved search keeps (the reader's choice, not their own profile)."""
    record: dict[str, Any] = {}
    for field in FILTER_ARGS:
        value = getattr(filters, field)
        if value:
            record[field] = value if isinstance(value, str) else list(value)
    return record


def profile_filters(saved: SavedSearch) -> ProfileFilters:
    """The saved filters as the engine takes them."""
    kept = saved.filters or {}
    return ProfileFilters(
        kind=kept.get("kind") or None,
        **{field: tuple(kept.get(field) or ()) for field in FILTER_ARGS if field != "kind"},
    )


def search_args(saved: SavedSearch) -> dict[str, Any]:
    """The search page's query string that runs this saved search."""
    args: dict[str, Any] = {"q": saved.query}
    for field, name in FILTER_ARGS.items():
        if saved.filters.get(field):
            args[name] = saved.filters[field]
    return args


def create(user: User, name: str, query: str, filters: ProfileFilters) -> SavedSearch:
    """Save a search under a name; its digest lists what changes from now on."""
    query = clean_text(query, "q", required=True)
    saved = SavedSearch(
        user_id=user.id, name=_name(name), query=query, filters=filters_record(filters)
    )
    db.session.add(saved)
    db.session.flush()
    return saved


def rename(saved: SavedSearch, name: str) -> None:
    """Give a saved search another name."""
    saved.name = _name(name)
    db.session.flush()


def delete(saved: SavedSearch) -> None:
    """Forget a saved search."""
    db.session.delete(saved)
    db.session.flush()


def saved_searches_page(user: User, page: int, per_page: int) -> Pagination:
    """A page of the user's saved searches, by name."""
    query = (
        select(SavedSearch)
        .where(SavedSearch.user_id == user.id)
        .order_by(SavedSearch.name, SavedSearch.id)
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class DigestReport:
    searches: int  # saved searches that were due
    notified: int  # of them, those with news (one notification and one email each)


def new_good_matches(engine: MatchingEngine, saved: SavedSearch, user: User) -> list[Any]:
    """The search's good (or strong) matches created or updated since its last digest."""
    own = user.profile
    filters = profile_filters(saved)
    if own is not None:
        filters = replace(filters, exclude_profiles=(own.id,))
    found = search(
        engine,
        saved.query,
        filters,
        limit=DIGEST_SEARCH_LIMIT,
        searcher=own,
        min_strength=strength.GOOD,
    )
    since = _aware(saved.digested_at)
    return [
        result
        for result in found.results
        if _aware(result.profile.updated_at) > since or _aware(result.profile.created_at) > since
    ]


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes for what was written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def send_digests(engine: MatchingEngine, now: datetime | None = None) -> DigestReport:
    """Tell each owner of a due saved search which profiles newly match it well, in the
    app and through the outbox, and mark the search digested (flushes; the caller commits)."""
    now = now or utcnow()
    due = [
        saved
        for saved in db.session.scalars(select(SavedSearch).order_by(SavedSearch.id))
        if _aware(saved.digested_at) <= now - DIGEST_INTERVAL
    ]
    notified = 0
    for saved in due:
        user = db.session.get(User, saved.user_id)
        news = new_good_matches(engine, saved, user) if user and user.active else []
        if news:
            names = [result.profile.name for result in news[:DIGEST_NAMES_SHOWN]]
            more = len(news) - len(names)
            values = {"search": saved.name, "names": ", ".join(names)}
            if more:
                values["more"] = str(more)
            notified += notify(
                [user],
                DIGEST_MESSAGE_MORE if more else DIGEST_MESSAGE,
                values,
                link="/search/?" + urlencode(search_args(saved), doseq=True),
            )
        saved.digested_at = now
    db.session.flush()
    return DigestReport(len(due), notified)
