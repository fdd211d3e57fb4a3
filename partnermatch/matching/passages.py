"""A profile becomes several passages, each embedded on its own.

One centroid per profile blurs an expert with twenty publications into nothing in
particular; separate passages let a query meet the one publication it is about.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from partnermatch.matching.multilingual import matching_language, passage_language
from partnermatch.profiles.models import Profile
from partnermatch.reference import N_

# MiniLM reads at most 256 word pieces and drops the rest. 200-word chunks lost the tail of 17
# of the 49 chunks of the CORDIS project texts (technical English runs 1.3-1.5 pieces a word);
# 150 words, title included, lose none there.
CHUNK_WORDS = 150
CHUNK_OVERLAP = 30
# Chinese, Japanese and Thai put few or no spaces between words: such a text is cut by
# characters instead (the multilingual model reads about a piece for one or two characters,
# and at most 512 pieces).
CHUNK_CHARACTERS = 300
CHUNK_CHARACTER_OVERLAP = 60
SENTENCE_BREAKS = frozenset(".!?; \u3002\uff01\uff1f\uff1b")  # with the full-width stops
_SPACELESS_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# Passage ids are profile_id * MAX_PASSAGES + position, so one profile's passages form a
# contiguous id range that can be removed or selected in one step.
MAX_PASSAGES = 1024


class PassageSource(StrEnum):
    ABOUT = "about"
    OFFERS = "offers"
    NEEDS = "needs"
    EVIDENCE = "evidence"


# What a search for partners reads: what a profile is, offers and has done; not what it needs.
SEARCHABLE_SOURCES = frozenset({PassageSource.ABOUT, PassageSource.OFFERS, PassageSource.EVIDENCE})


class ProfileLanguage:
    """The language of a profile's own words as a whole, detected on first use and kept:
    what a passage too short to tell by itself is taken to be in."""

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._language: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._language is None:
                self._language = matching_language(" ".join(t for t in self._texts if t))
            return self._language


@dataclass(frozen=True)
class Passage:
    source: PassageSource
    title: str  # where the passage comes from, as shown to people
    text: str  # what is embedded: the quote with its context (name, title)
    quote: str  # the words of the profile itself, for quoting as evidence
    evidence_id: int | None = None
    profile_language: ProfileLanguage | None = field(default=None, compare=False, repr=False)

    @cached_property
    def language(self) -> str:
        """The language of the passage's words, as the engine reads them (en, vi, zh_Hant, ...;
        see passage_language), detected on first use and kept. The profile's `languages`
        field is what its owner says they work in, and is left alone."""
        context = self.profile_language or (lambda: matching_language(self.quote))
        return passage_language(self.quote, context)


def chunk_text(text: str) -> list[str]:
    """Cut a text into overlapping chunks that the models read whole: by words (chunk_words),
    or by characters when it is mostly in a script written without spaces."""
    visible = "".join(text.split())
    if len(_SPACELESS_SCRIPT.findall(visible)) * 2 > len(visible):
        return chunk_characters(text)
    return chunk_words(text)


def chunk_words(text: str, size: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Cut a text into chunks of about `size` words, each repeating `overlap` words of the last."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    chunks = []
    for start in range(0, len(words), step):
        chunks.append(" ".join(words[start : start + size]))
        if start + size >= len(words):
            break
    return chunks


def chunk_characters(
    text: str, size: int = CHUNK_CHARACTERS, overlap: int = CHUNK_CHARACTER_OVERLAP
) -> list[str]:
    """Cut a text into chunks of at most `size` characters, each repeating about `overlap`
    characters of the last; a chunk ends after a sentence or a space when one is near."""
    text = " ".join(text.split())
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            window = text[end - overlap : end]
            breaks = [i for i, char in enumerate(window) if char in SENTENCE_BREAKS]
            if breaks:
                end = end - overlap + breaks[-1] + 1
        chunks.append(text[start:end].strip())
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return [chunk for chunk in chunks if chunk]


def _context(*parts: str) -> str:
    return " ".join(part.rstrip(".") + "." for part in parts if part)


def profile_passages(profile: Profile) -> list[Passage]:
    """Return a profile's passages in a stable order: about, offers, needs, then evidence."""
    organisation = profile.organisation.name if profile.organisation else ""
    keywords = "Keywords: " + ", ".join(profile.keywords) if profile.keywords else ""
    about_context = _context(
        profile.name, organisation if organisation != profile.name else "", keywords
    )
    # (source, title, context embedded before each chunk, the profile's own words)
    pieces: list[tuple[PassageSource, str, str, str, int | None]] = [
        (PassageSource.ABOUT, N_("Profile"), about_context, profile.summary or profile.name, None),
        (PassageSource.OFFERS, N_("Offers"), "", profile.offers, None),
        (PassageSource.NEEDS, N_("Needs"), "", profile.needs, None),
    ]
    for item in sorted(profile.evidence, key=lambda evidence: evidence.id):
        if item.text:
            pieces.append(
                (PassageSource.EVIDENCE, item.title, _context(item.title), item.text, item.id)
            )
        else:
            pieces.append((PassageSource.EVIDENCE, item.title, "", item.title, item.id))
    language = ProfileLanguage([body for _, _, _, body, _ in pieces])
    passages = [
        Passage(source, title, f"{context} {chunk}".strip(), chunk, evidence_id, language)
        for source, title, context, body, evidence_id in pieces
        for chunk in chunk_text(body)
    ]
    return passages[:MAX_PASSAGES]


def passage_id(profile_id: int, position: int) -> int:
    """Return the vector id of a profile's passage."""
    return profile_id * MAX_PASSAGES + position


def split_passage_id(vector_id: int) -> tuple[int, int]:
    """Return (profile id, position) for a vector id."""
    return divmod(int(vector_id), MAX_PASSAGES)
