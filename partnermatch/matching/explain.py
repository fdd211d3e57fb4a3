"""Turn ranked passages into results people can judge: the quote, its source and the facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext, ngettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from partnermatch import reference
from partnermatch.extensions import db
from partnermatch.i18n import economy_name, language_name
from partnermatch.matching.engine import SearchPage
from partnermatch.matching.multilingual import matching_language
from partnermatch.matching.passages import Passage, PassageSource, profile_passages
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters

SNIPPET_CHARACTERS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[\w-]+")
_STOPWORD_TEXT = (
    "a an and are as at be by for from has have in into is it its of on or our that the "
    "their them they this to we with who what which will can need needs looking seek "
    "partner partners"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Evidence:
    title: str  # the passage's source: "Offers", "Profile" or an evidence item's title
    snippet: str  # words of the profile itself


@dataclass(frozen=True)
class SearchResult:
    profile: Profile
    score: float
    reasons: list[str]
    evidence: list[Evidence]


@dataclass(frozen=True)
class SearchResults:
    results: list[SearchResult]
    total: int
    offset: int
    limit: int


def content_words(text: str) -> set[str]:
    """Return the lower-cased words of a text that carry meaning."""
    return {
        word
        for word in (match.group().lower() for match in _WORD.finditer(text))
        if len(word) > 2 and word not in _STOPWORDS
    }


def best_snippet(quote: str, query: str, limit: int = SNIPPET_CHARACTERS) -> str:
    """Return the sentence of a quote that shares most words with the query, shortened."""
    sentences = [sentence for sentence in _SENTENCE_END.split(quote.strip()) if sentence]
    if not sentences:
        return ""
    wanted = content_words(query)
    best = max(sentences, key=lambda sentence: len(wanted & content_words(sentence)))
    if len(best) <= limit:
        return best
    return best[:limit].rsplit(" ", 1)[0] + "…"


def _mentioned(label: str, code: str, query_words: set[str]) -> bool:
    label_words = content_words(label) - {"industries", "technology", "and"}
    return code in query_words or bool(label_words and label_words <= query_words)


def search_reasons(profile: Profile, query: str, filters: ProfileFilters | None) -> list[str]:
    """Return the facts that connect a profile to a search: sector, chain, economy, keywords."""
    filters = filters or ProfileFilters()
    words = content_words(query)
    reasons: list[str] = []
    sectors = [
        reference.sector(code).label  # type: ignore[union-attr]
        for code in profile.sectors
        if code in filters.sectors or _mentioned(reference.sector(code).label, code, words)  # type: ignore[union-attr]
    ]
    if sectors:
        reasons.append(gettext("Sector: %(sectors)s", sectors=", ".join(map(gettext, sectors))))
    positions = [
        reference.value_chain_position(code).label  # type: ignore[union-attr]
        for code in profile.value_chain
        if code in filters.value_chain
        or _mentioned(reference.value_chain_position(code).label, code, words)  # type: ignore[union-attr]
    ]
    if positions:
        reasons.append(
            gettext("Value chain: %(positions)s", positions=", ".join(map(gettext, positions)))
        )
    if filters.economies:
        reasons.append(gettext("Economy: %(economy)s", economy=economy_name(profile.economy)))
    elif filters.exclude_economies:
        excluded = ", ".join(economy_name(code) for code in filters.exclude_economies)
        reasons.append(
            gettext(
                "Across economies: %(economy)s, outside %(excluded)s",
                economy=economy_name(profile.economy),
                excluded=excluded,
            )
        )
    lowered = query.lower()
    shared = [keyword for keyword in profile.keywords if keyword.lower() in lowered]
    if shared:
        reasons.append(gettext("Keywords: %(keywords)s", keywords=", ".join(shared)))
    return reasons


def cross_language_reason(passage: Passage | None, query: str) -> str | None:
    """Say so when the best passage is in another language than the search."""
    if passage is None:
        return None
    theirs, ours = passage.language, matching_language(query)
    if theirs == ours or "other" in (theirs, ours):
        return None
    return gettext(
        "Matched across languages (%(language)s): searched in %(query_language)s",
        language=language_name(theirs),
        query_language=language_name(ours),
    )


def _evidence_for(passage: Passage | None, query: str) -> list[Evidence]:
    if passage is None:
        return []
    # "Profile", "Offers" and "Needs" name a part of the profile; an evidence title is data.
    title = passage.title if passage.source is PassageSource.EVIDENCE else gettext(passage.title)
    return [Evidence(title, best_snippet(passage.quote, query))]


def explain_search(page: SearchPage, query: str, filters: ProfileFilters | None) -> SearchResults:
    """Load the profiles of a page of hits and attach reasons and quoted evidence."""
    ids = [hit.profile_id for hit in page.hits]
    profiles = {
        profile.id: profile
        for profile in db.session.scalars(
            select(Profile)
            .where(Profile.id.in_(ids))
            .options(selectinload(Profile.evidence), selectinload(Profile.organisation))
        )
    }
    results = []
    for hit in page.hits:
        profile = profiles.get(hit.profile_id)
        if profile is None:  # deleted since the index last caught up
            continue
        passages = profile_passages(profile)
        passage = passages[hit.position] if hit.position < len(passages) else None
        reasons = search_reasons(profile, query, filters)
        across = cross_language_reason(passage, query)
        if across:
            reasons.insert(0, across)
        if hit.supporting:
            reasons.append(
                ngettext(
                    "%(num)d more passage of this profile match too",
                    "%(num)d more passages of this profile match too",
                    hit.supporting,
                )
            )
        results.append(
            SearchResult(
                profile=profile,
                score=hit.score,
                reasons=reasons,
                evidence=_evidence_for(passage, query),
            )
        )
    return SearchResults(results, page.total, page.offset, page.limit)
