"""The facts behind a search result: the quote, its source and what connects it to the query.

Facts only (codes, numbers, words of the profile itself); partnermatch.presentation words
them for a reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from partnermatch.matching import lexical
from partnermatch.matching.asks import split_asks
from partnermatch.matching.engine import SearchPage
from partnermatch.matching.multilingual import matching_language
from partnermatch.matching.passages import Passage, PassageSource, profile_passages
from partnermatch.matching.ranking import ProfileHit
from partnermatch.profiles.models import Profile
from partnermatch.reference import (
    SECTOR_CODES,
    VALUE_CHAIN_CODES,
    sector,
    value_chain_position,
)

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
    source: PassageSource
    title: str  # an evidence item's title; for the other sources, the source's name (a msgid)
    snippet: str  # words of the profile itself


@dataclass(frozen=True)
class SearchFilterFacts:
    """What of the search's filters a result is shown against."""

    economies: tuple[str, ...] = ()
    exclude_economies: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    value_chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    profile: Profile
    hit: ProfileHit
    evidence: list[Evidence]
    sectors: list[str] = field(default_factory=list)  # codes the filters or the query name
    positions: list[str] = field(default_factory=list)
    economy: str | None = None  # the profile's economy, when the filters choose economies
    outside: tuple[str, ...] = ()  # the economies the filters leave out
    keywords: list[str] = field(default_factory=list)  # its keywords the query names
    terms: list[str] = field(default_factory=list)  # exact terms (codes) it shares with the query
    across_languages: tuple[str, str] | None = None  # (its words' language, the query's)
    asks: tuple[str, ...] = ()  # the query's asks, the main one first (one: none listed)

    @property
    def score(self) -> float:
        return self.hit.score

    @property
    def strength(self) -> str:
        return self.hit.strength

    @property
    def role(self) -> str:
        return self.hit.role

    @property
    def supporting(self) -> int:
        return self.hit.supporting

    @property
    def answered_ask(self) -> int | None:
        return self.hit.answered_ask if self.asks else None


@dataclass(frozen=True)
class SearchResults:
    results: list[SearchResult]
    total: int
    offset: int
    limit: int
    hidden_weaker: int = 0  # results below the strength asked for, left out
    none_strong_enough: bool = False  # nothing was; the nearest few are listed instead
    filtered_total: int = 0  # profiles that pass the filters, whatever their match


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


def mentioned_sectors(codes: Sequence[str], query: str, chosen: Sequence[str] = ()) -> list[str]:
    """Return the sector codes among `codes` that the filters choose or the query names."""
    words = content_words(query)
    return [
        code
        for code in codes
        if code in chosen or (code in SECTOR_CODES and _mentioned(sector(code).label, code, words))  # type: ignore[union-attr]
    ]


def mentioned_positions(codes: Sequence[str], query: str, chosen: Sequence[str] = ()) -> list[str]:
    """Return the value-chain codes among `codes` that the filters choose or the query names."""
    words = content_words(query)
    return [
        code
        for code in codes
        if code in chosen
        or (
            code in VALUE_CHAIN_CODES and _mentioned(value_chain_position(code).label, code, words)  # type: ignore[union-attr]
        )
    ]


# A standard's body written before its number: "IEC 62619", "ISO/SAE 21434", "UL 94".
_STANDARD_BODY = r"(?:\b([A-Z][A-Z]{1,5}(?:/[A-Z]{2,5})?)\s+)?"


def shared_terms(query: str, texts: Sequence[str]) -> list[str]:
    """Return the query's exact terms (codes: standards, grades, part numbers) found in the
    texts, as the query writes them ("IEC 62619", with the standard's body)."""
    wanted = lexical.code_terms(query)
    if not wanted:
        return []
    found = {term for text in texts for term in lexical.code_terms(text)}
    shown: list[str] = []
    for term in wanted:
        if term not in found:
            continue
        written = re.search(_STANDARD_BODY + f"({re.escape(term)})", query, re.IGNORECASE)
        if written is None:
            shown.append(term)
            continue
        body, code = written.group(1), written.group(2)
        shown.append(f"{body} {code}" if body and body.isupper() else code)
    return list(dict.fromkeys(shown))


def cross_language(passage: Passage | None, query: str) -> tuple[str, str] | None:
    """Return (the passage's language, the query's) when they differ."""
    if passage is None:
        return None
    theirs, ours = passage.language, matching_language(query)
    if theirs == ours or "other" in (theirs, ours):
        return None
    return theirs, ours


def _evidence_for(passage: Passage | None, query: str) -> list[Evidence]:
    if passage is None:
        return []
    return [Evidence(passage.source, passage.title, best_snippet(passage.quote, query))]


def explain_hit(
    profile: Profile,
    hit: ProfileHit,
    query: str,
    filters: SearchFilterFacts | None = None,
) -> SearchResult:
    """Attach the facts that connect one profile to a search."""
    filters = filters or SearchFilterFacts()
    passages = profile_passages(profile)
    position = hit.position if hit.position is not None else hit.lexical_position
    passage = passages[position] if position is not None and position < len(passages) else None
    lowered = query.lower()
    return SearchResult(
        profile=profile,
        hit=hit,
        evidence=_evidence_for(passage, query),
        sectors=mentioned_sectors(profile.sectors, query, filters.sectors),
        positions=mentioned_positions(profile.value_chain, query, filters.value_chain),
        economy=profile.economy if filters.economies else None,
        outside=filters.exclude_economies if not filters.economies else (),
        keywords=[keyword for keyword in profile.keywords if keyword.lower() in lowered],
        terms=shared_terms(
            query, [p.text for p in passages if p.source is not PassageSource.NEEDS]
        ),
        across_languages=cross_language(passage, query),
        asks=tuple(asks) if len(asks := split_asks(query)) > 1 else (),
    )


def explain_search(
    page: SearchPage,
    query: str,
    profiles: Mapping[int, Profile],
    filters: SearchFilterFacts | None = None,
    hidden_weaker: int = 0,
) -> SearchResults:
    """Attach reasons and quoted evidence to a page of hits (profiles loaded by the caller;
    a hit whose profile has gone since the index last caught up is dropped)."""
    results = [
        explain_hit(profiles[hit.profile_id], hit, query, filters)
        for hit in page.hits
        if hit.profile_id in profiles
    ]
    return SearchResults(results, page.total, page.offset, page.limit, hidden_weaker)
