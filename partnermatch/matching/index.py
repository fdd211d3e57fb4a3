"""The vector indexes: FAISS over passage vectors (persisted by partnermatch.matching.snapshots).

Two FAISS indexes share one id space: "capability" holds what profiles are, offer and have
done (what a search reads); "needs" holds what they seek (what reciprocity reads). A vector id
is profile_id * MAX_PASSAGES + position, so a profile's passages form one id range.

Exact inner-product search (IndexFlatIP) answers filtered queries exactly through an
IDSelector: measured on 2 cores with one thread, 500k vectors take 28 ms unfiltered and 3 ms
when a filter keeps 1% (numpy brute force: 18 ms unfiltered). Above EXACT_LIMIT vectors the
base is an HNSW graph; bench/bench_search.py measures both against brute force.

"capability_ml" and "needs_ml" hold the same passages' vectors from the multilingual model
(see partnermatch.matching.multilingual), in the same id space. They are stored 8-bit scalar
quantised (one byte per dimension: 384 bytes a vector instead of 1,536, so ~190 MB rather
than ~770 MB per worker at 100k profiles), exact up to EXACT_LIMIT and HNSW-SQ above; the
quantisation moves a cosine by about 0.001, which the filters' exactness does not depend on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import faiss
import numpy as np

from partnermatch.matching.lexical import LexicalIndex, LexicalPassage
from partnermatch.matching.multilingual import DIMENSION as MULTILINGUAL_DIMENSION
from partnermatch.matching.passages import MAX_PASSAGES

# Up to this many vectors the base is exact; above it, HNSW (see README, "Choosing the index").
EXACT_LIMIT = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# Under an HNSW base, a filter that leaves at most this many vectors is scored exactly.
EXACT_SUBSET_LIMIT = 50_000
INDEX_NAMES = ("capability", "needs", "capability_ml", "needs_ml")
# OpenMP threads FAISS may use for one search. A search is one web request's work: with
# FAISS's default (every core), its threads wait on cores busy with other requests and the
# models' own threads, and a profile page's first view took twice as long on a busy machine
# (its several searches; bench/bench_pages.py). Building keeps FAISS's default.
SEARCH_THREADS = 1
QUANTISED_INDEXES = frozenset({"capability_ml", "needs_ml"})


def _stored_vectors(index: faiss.Index) -> np.ndarray:
    """Return a read-only view (no copy) of the float32 vectors a flat or HNSW index stores."""
    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def _expand_ranges(ranges: np.ndarray) -> np.ndarray:
    """Return every row of the [start, stop) ranges, in order, without a Python loop."""
    lengths = ranges[:, 1] - ranges[:, 0]
    offsets = np.repeat(ranges[:, 0] - np.cumsum(lengths) + lengths, lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + offsets


def _find_sorted(sorted_keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each wanted key, its position in the (non-empty) sorted keys and whether
    it is there."""
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    return at, sorted_keys[at] == wanted


def _sorted_table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    return keys[order], values[order]


def _lookup(
    table: tuple[np.ndarray, np.ndarray], wanted: np.ndarray, found: np.ndarray
) -> np.ndarray:
    """Return `found` with the values of the wanted keys that the sorted table holds."""
    sorted_keys, sorted_values = table
    at, hit = _find_sorted(sorted_keys, wanted)
    return np.where(hit, sorted_values[at], found).astype(np.uint8)


class VectorIndex:
    """One searchable set of passage vectors: a base built at the last rebuild, plus a delta.

    The base is exact (IndexFlatIP) up to EXACT_LIMIT vectors and HNSW above; an HNSW graph
    cannot delete, so a changed profile's base rows are marked dead (skipped through an
    IDSelector) and its new passages go to a small exact delta index until the next rebuild.
    """

    def __init__(
        self,
        dimension: int,
        base: faiss.Index | None = None,
        row_ids: np.ndarray | None = None,
        row_languages: np.ndarray | None = None,
    ):
        self.dimension = dimension
        self.base = base if base is not None else faiss.IndexFlatIP(dimension)
        self.row_ids = row_ids if row_ids is not None else np.zeros(0, dtype=np.int64)
        # Each row's language code (partnermatch.matching.multilingual.language_code); 0 when
        # not known. The multilingual model's scores are calibrated per pair of languages.
        self.row_languages = (
            np.asarray(row_languages, dtype=np.uint8)
            if row_languages is not None
            else np.zeros(len(self.row_ids), dtype=np.uint8)
        )
        if len(self.row_languages) != len(self.row_ids):
            raise ValueError("row_languages must give one language per row")
        self.delta_languages: dict[int, int] = {}  # passage id -> language code
        # (ids sorted, their codes) of the base rows and of delta_languages, made on first lookup
        self._row_language_table: tuple[np.ndarray, np.ndarray] | None = None
        self._delta_language_table: tuple[np.ndarray, np.ndarray] | None = None
        self.base_rows: dict[int, tuple[int, int]] = {}
        self._dead = np.zeros(len(self.row_ids), dtype=bool)
        self._dead_selector: faiss.IDSelector | None = None
        self._dead_rows: np.ndarray | None = None
        self._live_sorted: np.ndarray | None = None  # live base ids, sorted (see holds)
        self.delta = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.delta_ids: dict[int, np.ndarray] = {}
        if len(self.row_ids):
            profiles = self.row_ids // MAX_PASSAGES
            starts = np.flatnonzero(np.r_[True, profiles[1:] != profiles[:-1]])
            stops = np.r_[starts[1:], len(profiles)]
            for start, stop in zip(starts, stops, strict=True):
                self.base_rows[int(profiles[start])] = (int(start), int(stop))

    @classmethod
    def build(
        cls,
        dimension: int,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        quantised: bool = False,
        languages: np.ndarray | None = None,
    ) -> VectorIndex:
        """Build a base index over vectors grouped by profile (each profile's rows together);
        `quantised` stores them 8-bit scalar quantised (trained on the vectors themselves);
        `languages` gives each row's language code."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dimension)
        eight_bits = faiss.ScalarQuantizer.QT_8bit
        if len(vectors) > EXACT_LIMIT:
            if quantised:
                base = faiss.IndexHNSWSQ(dimension, eight_bits, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            else:
                base = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        elif quantised and len(vectors):
            base = faiss.IndexScalarQuantizer(dimension, eight_bits, faiss.METRIC_INNER_PRODUCT)
        else:
            base = faiss.IndexFlatIP(dimension)
        if len(vectors):
            if not base.is_trained:
                base.train(vectors)
            base.add(vectors)
        return cls(dimension, base, np.asarray(ids, dtype=np.int64), languages)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self.base, faiss.IndexHNSW) else "flat"

    @property
    def quantised(self) -> bool:
        storage = self.base.storage if isinstance(self.base, faiss.IndexHNSW) else self.base
        return isinstance(faiss.downcast_index(storage), faiss.IndexScalarQuantizer)

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Return, for each vector id, whether this index has a live vector under it."""
        ids = np.asarray(ids, dtype=np.int64)
        if self._live_sorted is None:  # kept until base rows die: a search only looks up
            self._live_sorted = np.sort(self.row_ids[~self._dead])
        live = np.zeros(len(ids), dtype=bool)
        if len(self._live_sorted):
            live = _find_sorted(self._live_sorted, ids)[1]
        if self.delta_ids:
            live |= np.isin(ids, np.concatenate(list(self.delta_ids.values())))
        return live

    @property
    def size(self) -> int:
        """Return how many live vectors can be found."""
        return int(len(self.row_ids) - self._dead.sum() + self.delta.ntotal)

    @property
    def profile_ids(self) -> set[int]:
        return set(self.base_rows) | set(self.delta_ids)

    @property
    def is_pristine(self) -> bool:
        """True while the index is exactly as built: nothing added or removed since."""
        return not self.delta.ntotal and not self._dead.any()

    def has_profile(self, profile_id: int) -> bool:
        return profile_id in self.base_rows or profile_id in self.delta_ids

    def count_for(self, profile_ids: Iterable[int]) -> int:
        """Return how many live vectors these profiles have."""
        total = 0
        for pid in profile_ids:
            start, stop = self.base_rows.get(pid, (0, 0))
            total += stop - start + len(self.delta_ids.get(pid, ()))
        return total

    def add(
        self, ids: np.ndarray, vectors: np.ndarray, languages: np.ndarray | None = None
    ) -> None:
        """Add vectors under their ids (a profile's passages must be removed first), with
        each one's language code if given."""
        if not len(ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        self.delta.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        if languages is not None:
            self.delta_languages.update(
                zip(ids.tolist(), np.asarray(languages).tolist(), strict=True)
            )
            self._delta_language_table = None
        for profile_id in np.unique(ids // MAX_PASSAGES):
            mine = ids[ids // MAX_PASSAGES == profile_id]
            known = self.delta_ids.get(int(profile_id))
            self.delta_ids[int(profile_id)] = mine if known is None else np.union1d(known, mine)

    def remove_profiles(self, profile_ids: Iterable[int]) -> None:
        """Remove every passage of these profiles."""
        doomed: list[np.ndarray] = []
        for pid in profile_ids:
            if pid in self.base_rows:
                start, stop = self.base_rows.pop(pid)
                self._dead[start:stop] = True
                self._dead_selector = None
                self._live_sorted = None
            if pid in self.delta_ids:
                doomed.append(self.delta_ids.pop(pid))
        if doomed:
            doomed_ids = np.concatenate(doomed)
            self.delta.remove_ids(faiss.IDSelectorBatch(doomed_ids))
            for passage in doomed_ids.tolist():
                self.delta_languages.pop(passage, None)
            self._delta_language_table = None

    def languages_of(self, ids: np.ndarray) -> np.ndarray:
        """Return the language code of each vector id a search returned (0 for -1 padding or
        an id never stored); a profile's re-added passages have their new codes."""
        ids = np.asarray(ids, dtype=np.int64)
        codes = np.zeros(ids.shape, dtype=np.uint8)
        if len(self.row_ids):
            if self._row_language_table is None:
                self._row_language_table = _sorted_table(self.row_ids, self.row_languages)
            codes = _lookup(self._row_language_table, ids, codes)
        if self.delta_languages:
            if self._delta_language_table is None:
                self._delta_language_table = _sorted_table(
                    np.fromiter(self.delta_languages.keys(), dtype=np.int64),
                    np.fromiter(self.delta_languages.values(), dtype=np.uint8),
                )
            codes = _lookup(self._delta_language_table, ids, codes)
        return codes

    def _live_selector(self) -> faiss.IDSelector | None:
        if not self._dead.any():
            return None
        if self._dead_selector is None:
            self._dead_rows = np.flatnonzero(self._dead).astype(np.int64)
            self._dead_selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(self._dead_rows))
        return self._dead_selector

    def _search_base(
        self, queries: np.ndarray, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, vector ids) from the base; -1 ids pad missing results."""
        if among is None:
            selector = self._live_selector()
        else:
            ranges = [self.base_rows[pid] for pid in among if pid in self.base_rows]
            if not ranges:
                return np.zeros((len(queries), 0), np.float32), np.zeros(
                    (len(queries), 0), np.int64
                )
            rows = _expand_ranges(np.asarray(ranges, dtype=np.int64))
            if self.kind == "hnsw" and len(rows) <= EXACT_SUBSET_LIMIT:
                return self._exact_rows(queries, k, rows)
            selector = faiss.IDSelectorBatch(rows.astype(np.int64))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        scores, rows = self.base.search(queries, k, params=params)
        ids = np.where(rows >= 0, self.row_ids[np.maximum(rows, 0)], -1)
        return scores, ids

    def _exact_rows(
        self, queries: np.ndarray, k: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        # A selective filter leaves few rows: score them all exactly instead of walking the graph.
        stored = (
            self.base.reconstruct_batch(rows)
            if self.quantised
            else _stored_vectors(self.base)[rows]
        )
        scores = queries @ stored.T
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top_scores, order, axis=1), self.row_ids[
            rows[np.take_along_axis(top, order, axis=1)]
        ]

    def search(
        self, queries: np.ndarray, k: int, among: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the k nearest live passages, only of `among` profiles if given.

        Rows are sorted best first; an id of -1 marks a missing result.
        """
        with _faiss_threads(SEARCH_THREADS):
            return self._search(queries, k, among)

    def _search(
        self, queries: np.ndarray, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        parts = [self._search_base(queries, k, among)] if len(self.row_ids) else []
        if self.delta.ntotal:
            if among is None:
                parts.append(self.delta.search(queries, k))
            else:
                allowed = [self.delta_ids[pid] for pid in among if pid in self.delta_ids]
                if allowed:
                    selector = faiss.IDSelectorBatch(np.concatenate(allowed))
                    parts.append(
                        self.delta.search(queries, k, params=faiss.SearchParameters(sel=selector))
                    )
        if not parts:
            return np.full((len(queries), k), -np.inf, np.float32), np.full(
                (len(queries), k), -1, np.int64
            )
        scores = np.concatenate([part[0] for part in parts], axis=1)
        ids = np.concatenate([part[1] for part in parts], axis=1)
        scores = np.where(ids >= 0, scores, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)


@contextmanager
def _faiss_threads(threads: int) -> Iterator[None]:
    """Let FAISS use this many OpenMP threads in the calling thread (OpenMP keeps the count
    per thread), then give the thread its count back."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@dataclass(frozen=True)
class EncodedPart:
    """Encoded passages bound for one vector index: ids, vectors and language codes."""

    ids: np.ndarray
    vectors: np.ndarray
    languages: np.ndarray

    @classmethod
    def empty(cls, dimension: int) -> EncodedPart:
        return cls(
            np.zeros(0, np.int64), np.zeros((0, dimension), np.float32), np.zeros(0, np.uint8)
        )

    @classmethod
    def concatenate(cls, parts: Sequence[EncodedPart], dimension: int) -> EncodedPart:
        parts = [cls.empty(dimension), *parts]
        return cls(
            np.concatenate([part.ids for part in parts]),
            np.concatenate([part.vectors.reshape(-1, dimension) for part in parts]),
            np.concatenate([part.languages for part in parts]).astype(np.uint8),
        )


@dataclass
class PassageIndex:
    """The indexes that make up one state of the engine: MiniLM's pair, the multilingual
    model's pair (empty when PARTNERMATCH_MULTILINGUAL is off) and the lexical index over
    the same passages."""

    capability: VectorIndex
    needs: VectorIndex
    capability_ml: VectorIndex = field(default_factory=lambda: VectorIndex(MULTILINGUAL_DIMENSION))
    needs_ml: VectorIndex = field(default_factory=lambda: VectorIndex(MULTILINGUAL_DIMENSION))
    lexical: LexicalIndex = field(default_factory=LexicalIndex.in_memory)

    def vectors(self, name: str) -> VectorIndex:
        """Return the vector index of that name (one of INDEX_NAMES)."""
        if name not in INDEX_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    @property
    def parts(self) -> list[VectorIndex]:
        return [self.vectors(name) for name in INDEX_NAMES]

    @property
    def profile_ids(self) -> set[int]:
        return set().union(*(part.profile_ids for part in self.parts))

    def remove_profiles(self, profile_ids: Iterable[int]) -> None:
        profile_ids = list(profile_ids)
        for part in self.parts:
            part.remove_profiles(profile_ids)
        self.lexical.remove_profiles(profile_ids)

    def add(self, parts: Mapping[str, EncodedPart], lexical: Iterable[LexicalPassage]) -> None:
        """Add encoded passages (their profiles removed first) and the lexical leg's texts;
        the lexical index sees them after `flush`."""
        for name, part in parts.items():
            self.vectors(name).add(part.ids, part.vectors, part.languages)
        self.lexical.add_passages(lexical)

    def flush(self) -> None:
        self.lexical.flush()
