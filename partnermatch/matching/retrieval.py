"""Retrieval: a retriever per leg (MiniLM, multilingual, lexical) and one hybrid that plans
which legs a query or a profile's passages take.

A leg is one planned search: some query texts or vectors against one index. Every leg
returns (scores, passage ids), one row per query text, best first, -1 ids padding a row:
dense legs on MiniLM's cosine scale (the multilingual model's cosines mapped onto it per
pair of languages), the lexical leg as coverage (see partnermatch.matching.lexical).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from partnermatch.matching.embedder import Embedder, MultilingualEmbedder
from partnermatch.matching.encoding import MINILM_LANGUAGES, PassageEncoder
from partnermatch.matching.index import PassageIndex
from partnermatch.matching.multilingual import (
    MultilingualMode,
    get_calibration,
    language_code,
    matching_language,
)
from partnermatch.matching.passages import Passage

DENSE = "dense"
LEXICAL = "lexical"


def _sort_rows(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


class Leg(Protocol):
    kind: str
    target: str  # the vector index whose passages it reaches (and whose sizes plan pools)
    positions: tuple[int, ...] | None  # which of the caller's texts each row is

    def search(
        self, index: PassageIndex, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class DenseLeg:
    """One model's query vector(s) against one vector index."""

    target: str  # "capability", "needs_ml", ...
    vectors: np.ndarray
    mapped: bool = False  # the multilingual model's cosines: mapped onto MiniLM's scale
    without: str | None = None  # skip passages this index holds (they have a MiniLM vector)
    positions: tuple[int, ...] | None = None
    languages: tuple[str, ...] = ("en",)  # each vector's language (one: all the same)
    kind: str = DENSE

    def search(
        self, index: PassageIndex, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), one row per vector, on MiniLM's scale; -1 ids pad."""
        scores, ids = index.vectors(self.target).search(self.vectors, k, among)
        if self.without is not None:
            skipped = index.vectors(self.without).holds(ids.ravel()).reshape(ids.shape)
            ids = np.where(skipped, -1, ids)
            scores = np.where(skipped, -np.inf, scores)
            scores, ids = _sort_rows(scores, ids)
        if self.mapped:
            query_codes = np.asarray([language_code(lang) for lang in self.languages])
            passage_codes = index.vectors(self.target).languages_of(ids)
            mapped = get_calibration().to_minilm_scale(scores, query_codes[:, None], passage_codes)
            scores = np.where(ids >= 0, mapped, -np.inf).astype(np.float32)
            if len(scores[0]) > 1:  # a language pair's map can reorder one model's scores
                scores, ids = _sort_rows(scores, ids)
        return scores, ids


@dataclass(frozen=True)
class LexicalLeg:
    """Query texts against the lexical index's passages of one part, scored as coverage."""

    texts: tuple[str, ...]
    positions: tuple[int, ...] | None = None
    target: str = "capability"  # or "needs": the vector index whose passages it reads too
    kind: str = LEXICAL

    def search(
        self, index: PassageIndex, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (coverage, ids), one row per text; rows padded with -1 ids to one width."""
        rows = [index.lexical.search(text, k, among, self.target) for text in self.texts]
        width = max([len(ids) for _, ids in rows] + [1])
        scores = np.full((len(rows), width), -np.inf, np.float32)
        ids = np.full((len(rows), width), -1, np.int64)
        for row, (row_scores, row_ids) in enumerate(rows):
            scores[row, : len(row_ids)] = row_scores
            ids[row, : len(row_ids)] = row_ids
        return scores, ids


class MiniLMRetriever:
    """MiniLM's leg: English texts against MiniLM's vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def query_leg(self, texts: Sequence[str], target: str = "capability") -> DenseLeg:
        """The query's texts (the whole, then its asks), encoded in one batch."""
        vectors = (
            self.embedder.encode_queries(texts)
            if len(texts) > 1
            else self.embedder.encode_query(texts[0])[None, :]
        )
        return DenseLeg(target, vectors, positions=tuple(range(len(texts))))

    def passage_leg(
        self, texts: Sequence[str], target: str, positions: tuple[int, ...]
    ) -> DenseLeg:
        return DenseLeg(target, self.embedder.encode_passages(list(texts)), positions=positions)


class MultilingualRetriever:
    """The multilingual model's leg; its cosines are mapped onto MiniLM's scale."""

    def __init__(self, embedder: MultilingualEmbedder) -> None:
        self.embedder = embedder

    def query_leg(
        self,
        texts: Sequence[str],
        language: str,
        target: str = "capability",
        without: str | None = None,
    ) -> DenseLeg:
        """The query's texts (the whole, then its asks), each read as a query."""
        return DenseLeg(
            f"{target}_ml",
            self.embedder.encode_queries(texts),
            mapped=True,
            without=without,
            positions=tuple(range(len(texts))),
            languages=(language,) * len(texts),
        )

    def passage_leg(
        self,
        vectors: np.ndarray,
        target: str,
        positions: tuple[int, ...],
        languages: tuple[str, ...],
        without: str | None = None,
    ) -> DenseLeg:
        return DenseLeg(
            f"{target}_ml",
            vectors,
            mapped=True,
            without=without,
            positions=positions,
            languages=languages,
        )


class LexicalRetriever:
    """The lexical leg: BM25 over the capability passages."""

    def query_leg(self, texts: Sequence[str], target: str = "capability") -> LexicalLeg:
        return LexicalLeg(tuple(texts), tuple(range(len(texts))), target)

    def passage_leg(
        self, texts: Sequence[str], positions: tuple[int, ...], target: str = "capability"
    ) -> LexicalLeg:
        return LexicalLeg(tuple(texts), positions, target)


class HybridRetriever:
    """Plans the legs of a search: which model reads the query (by its language and the
    multilingual mode), and the lexical leg beside them.

    When an English query needs both models, the multilingual model encodes it on a thread
    of its own while MiniLM encodes the query and its asks: each engine runs one thread and
    releases the GIL, so on an idle second core the page waits for the slower of the two
    instead of their sum (bench/bench_pages.py, "search page"). The CPU spent is the same.
    """

    def __init__(self, encoder: PassageEncoder, *, lexical: bool = True) -> None:
        self.encoder = encoder
        self.minilm = MiniLMRetriever(encoder.embedder)
        self.multilingual = (
            MultilingualRetriever(encoder.multilingual) if encoder.multilingual else None
        )
        self.lexical = LexicalRetriever() if lexical else None
        self._beside: ThreadPoolExecutor | None = None
        self._beside_pid = 0

    @property
    def beside(self) -> ThreadPoolExecutor:
        """The multilingual model's thread, made in the process that uses it: a forked child
        (an RQ job, a worker) would inherit an executor whose thread did not come along."""
        if self._beside is None or self._beside_pid != os.getpid():
            # One thread: the engine plans one search at a time (MatchingEngine holds its lock).
            self._beside = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="multilingual-query"
            )
            self._beside_pid = os.getpid()
        return self._beside

    @property
    def mode(self) -> MultilingualMode:
        return self.encoder.mode

    @staticmethod
    def _non_english_passages(
        index: PassageIndex, target: str, among: Sequence[int] | None = None
    ) -> bool:
        """True when the target holds passages that only the multilingual model reads (of
        the `among` profiles, when given): only then need an English text be encoded by it."""
        multilingual, minilm = index.vectors(f"{target}_ml"), index.vectors(target)
        if among is None:
            return multilingual.size > minilm.size
        return multilingual.count_for(among) > minilm.count_for(among)

    def query_legs(
        self,
        query: str,
        index: PassageIndex,
        target: str = "capability",
        asks: Sequence[str] = (),
        among: Sequence[int] | None = None,
    ) -> list[Leg]:
        """Plan a plain-language query's search of the target's passages: row 0 of each leg
        is the whole query, the next rows its asks (when it has several). The multilingual
        model reads the asks only where it is the query's only model: for an English query
        it reaches the passages in other languages, and the whole query does that."""
        texts = [query, *asks]
        legs: list[Leg] = []
        if self.multilingual is None:
            legs.append(self.minilm.query_leg(texts, target))
        else:
            language = matching_language(query)
            if self.mode is MultilingualMode.ALWAYS or language not in MINILM_LANGUAGES:
                legs.append(self.multilingual.query_leg(texts, language, target))
            elif self._non_english_passages(index, target, among):
                beside = self.beside.submit(
                    self.multilingual.query_leg, [query], language, target, without=target
                )
                legs.append(self.minilm.query_leg(texts, target))
                legs.append(beside.result())
            else:
                legs.append(self.minilm.query_leg(texts, target))
        if self.lexical is not None:
            legs.append(self.lexical.query_leg(texts, target))
        return legs

    def passage_legs(
        self, passages: Sequence[Passage], target: str, index: PassageIndex
    ) -> list[Leg]:
        """Plan the search of a profile's passages (its needs, its offers) in the target.

        Each passage is read as the multilingual mode says: off, MiniLM only; always, the
        multilingual model only; auto, an English passage meets English passages through
        MiniLM and the others through the multilingual model, a passage in another language
        meets every passage through the multilingual model.
        """
        passages = list(passages)
        texts = [passage.text for passage in passages]
        every = tuple(range(len(passages)))
        legs: list[Leg] = []
        if self.multilingual is None:
            legs.append(self.minilm.passage_leg(texts, target, every))
        else:
            # The asker's passages search: the model reads them as queries (its "query: "
            # prefix), as the calibration onto MiniLM's scale was fitted.
            ml_vectors = self.multilingual.embedder.queries.encode_passages(texts)
            languages = [passage.language for passage in passages]
            if self.mode is MultilingualMode.ALWAYS:
                legs.append(
                    self.multilingual.passage_leg(ml_vectors, target, every, tuple(languages))
                )
            else:
                english = tuple(
                    i for i, p in enumerate(passages) if self.encoder.reads_with_minilm(p)
                )
                others = tuple(i for i in every if i not in set(english))
                if english:
                    legs.append(
                        self.minilm.passage_leg([texts[i] for i in english], target, english)
                    )
                    if self._non_english_passages(index, target):
                        legs.append(
                            self.multilingual.passage_leg(
                                ml_vectors[list(english)],
                                target,
                                english,
                                tuple(languages[i] for i in english),
                                without=target,
                            )
                        )
                if others:
                    legs.append(
                        self.multilingual.passage_leg(
                            ml_vectors[list(others)],
                            target,
                            others,
                            tuple(languages[i] for i in others),
                        )
                    )
        if self.lexical is not None:
            legs.append(self.lexical.passage_leg([p.quote for p in passages], every, target))
        return legs
