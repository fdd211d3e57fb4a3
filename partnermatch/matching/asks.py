"""A need with several asks is covered ask by ask.

"EV motor-housing casting know-how and introductions to EV motor makers" asks two things;
a partner that answers the first (the main ask: people say first what they need most)
should rank above one that only meets a side phrase. A need is cut at sentence ends,
semicolons and list breaks, then at "and", "as well as", "plus" and commas between clauses
of their own (each side with at least MIN_ASK_WORDS meaningful words, so "testing and
certification" stays one ask).
"""

from __future__ import annotations

import re

# A side ask counts this much of what the main ask counts (chosen on the judged needs of
# bench/bench_relevance.py, half of them, and reported on the other half).
SIDE_ASK_WEIGHT = 0.5
MIN_ASK_WORDS = 3
MAX_ASKS = 4
# A longer text is a description (a project's objective, a profile), read whole: its
# sentences are not separate asks. (Consortium completion's queries, 150-300 words, lost MAP
# when cut into asks; the judged needs are 5-60 words.)
MAX_NEED_WORDS = 80
_SENTENCES = re.compile(r"(?<=[.!?;\u3002\uff01\uff1f\uff1b])\s+|\n+|\s+[-•*]\s+|(?<=:)\s+")
_JOINS = re.compile(r",?\s+(?:and also|as well as|and|plus|along with)\s+|,\s+", re.IGNORECASE)
_WORD = re.compile(r"\w[\w.-]*")
_FILLER = frozenset(
    "a an the of for to in on with we our us need needs looking want seek some someone who "
    "can help that this is are be also".split()
)


def _meaningful(text: str) -> int:
    return sum(1 for word in _WORD.findall(text.lower()) if word not in _FILLER)


def split_asks(text: str) -> list[str]:
    """Return the asks of a need, the main one first (one ask: the need itself)."""
    if len(text.split()) > MAX_NEED_WORDS:
        return [text.strip()]
    asks: list[str] = []
    for sentence in _SENTENCES.split(text.strip()):
        sentence = sentence.strip(" .;:")
        if not sentence:
            continue
        parts = [part.strip(" .;:") for part in _JOINS.split(sentence)]
        merged: list[str] = []
        for part in parts:
            if merged and (
                _meaningful(part) < MIN_ASK_WORDS or _meaningful(merged[-1]) < MIN_ASK_WORDS
            ):
                merged[-1] = f"{merged[-1]} and {part}" if part else merged[-1]
            elif part:
                merged.append(part)
        asks.extend(merged)
    if len(asks) <= 1:
        return [text.strip()] if text.strip() else []
    if len(asks) > MAX_ASKS:  # the rest become one last ask
        return [*asks[: MAX_ASKS - 1], " ".join(asks[MAX_ASKS - 1 :])]
    return asks


def asks_of_needs(needs: str) -> list[str]:
    """The asks a profile's needs search with, each on one line (as passages are chunked)."""
    return [" ".join(ask.split()) for ask in split_asks(needs)]


def ask_weight(index: int) -> float:
    """How much an ask counts: the main (first) one fully, the others SIDE_ASK_WEIGHT."""
    return 1.0 if index == 0 else SIDE_ASK_WEIGHT
