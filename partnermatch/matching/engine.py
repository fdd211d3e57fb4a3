"""The matching engine of one process: loads the current snapshot, follows the journal,
rebuilds, reports its status and answers searches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from partnermatch.extensions import db
from partnermatch.matching import journal
from partnermatch.matching.embedder import Embedder, MultilingualEmbedder
from partnermatch.matching.index import (
    MULTILINGUAL_DIMENSION,
    SNAPSHOT_FORMAT,
    Manifest,
    PassageIndex,
    SnapshotDamaged,
    SnapshotStore,
    VectorIndex,
)
from partnermatch.matching.multilingual import (
    MultilingualMode,
    get_calibration,
    language_code,
    matching_language,
)
from partnermatch.matching.passages import (
    MAX_PASSAGES,
    SEARCHABLE_SOURCES,
    Passage,
    passage_id,
    profile_passages,
    split_passage_id,
)
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters, filtered_profile_ids

# Profiles per step of a rebuild: small enough for a lively progress bar.
REBUILD_BATCH = 64
ProgressCallback = Callable[[int], None]


# A profile's score: its best passage, plus SUPPORT_WEIGHT for every other passage by what it
# scores above SUPPORT_THRESHOLD. Several passages that match make a stronger match than one
# lucky passage, while evidence that does not match adds nothing. Measured on consortium
# completion (bench/bench_quality.py): MAP 0.091 with the best passage alone, 0.210 with this;
# the weight is flat between 0.25 and 1, the threshold sits near MiniLM's median similarity.
SUPPORT_WEIGHT = 0.5
SUPPORT_THRESHOLD = 0.2
# Searches whose passing profiles hold at most this many passages score them all.
EXACT_POOL_PASSAGES = 20_000
# Otherwise the candidates are the owners of the nearest passages: this many per result.
CANDIDATE_FACTOR = 5
MIN_CANDIDATE_PASSAGES = 256
# What MiniLM reads in "auto" mode: English, and texts without words to tell a language by.
MINILM_LANGUAGES = frozenset({"en", "other"})


def aggregate_passages(scores: np.ndarray, ids: np.ndarray) -> list[PassageHit]:
    """Combine scored passages into one hit per profile (scores sorted best first)."""
    hits: dict[int, PassageHit] = {}
    support: dict[int, float] = {}
    counts: dict[int, int] = {}
    for score, vector_id in zip(scores, ids, strict=True):
        if vector_id < 0:
            continue
        profile_id, position = split_passage_id(vector_id)
        if profile_id not in hits:
            hits[profile_id] = PassageHit(profile_id, position, float(score), float(score))
        elif score > SUPPORT_THRESHOLD:
            support[profile_id] = support.get(profile_id, 0.0) + float(score) - SUPPORT_THRESHOLD
            counts[profile_id] = counts.get(profile_id, 0) + 1
    return [
        PassageHit(
            hit.profile_id,
            hit.position,
            hit.best + SUPPORT_WEIGHT * support.get(hit.profile_id, 0.0),
            hit.best,
            counts.get(hit.profile_id, 0),
        )
        for hit in hits.values()
    ]


class IndexUnavailable(Exception):
    """There is no index this process may serve; the message says what to do."""


@dataclass(frozen=True)
class IndexStatus:
    model_id: str
    database_profiles: int
    indexed_profiles: int | None
    manifest: Manifest | None
    pending_changes: int
    problem: str | None

    @property
    def stale(self) -> bool:
        """True when the index is missing, built with another model, or behind the database."""
        return (
            self.problem is not None
            or self.pending_changes > 0
            or (self.indexed_profiles != self.database_profiles)
        )


@dataclass(frozen=True)
class PassageHit:
    profile_id: int
    position: int  # the profile's best passage
    score: float  # its aggregated score (see aggregate_passages)
    best: float = 0.0  # the best passage's own similarity
    supporting: int = 0  # other passages above SUPPORT_THRESHOLD


@dataclass(frozen=True)
class PairHit:
    """A profile's best passage against any of several query vectors."""

    profile_id: int
    score: float
    query_index: int
    position: int


@dataclass
class SearchPage:
    hits: list[PassageHit]  # the best passage of each profile on this page, best first
    total: int  # profiles that pass the filters
    offset: int
    limit: int


@dataclass(frozen=True)
class _Encoded:
    capability_ids: np.ndarray
    capability_vectors: np.ndarray
    needs_ids: np.ndarray
    needs_vectors: np.ndarray
    capability_ml_ids: np.ndarray
    capability_ml_vectors: np.ndarray
    needs_ml_ids: np.ndarray
    needs_ml_vectors: np.ndarray
    capability_languages: np.ndarray  # each row's language code, for every index alike
    needs_languages: np.ndarray
    capability_ml_languages: np.ndarray
    needs_ml_languages: np.ndarray


@dataclass(frozen=True)
class _Leg:
    """One model's search: its query vector(s) against one of the indexes."""

    target: str  # an index of PassageIndex: "capability", "needs_ml", ...
    vectors: np.ndarray
    mapped: bool = False  # the multilingual model's cosines: mapped onto MiniLM's scale
    without: str | None = None  # skip passages this index holds (they have a MiniLM vector)
    positions: tuple[int, ...] | None = None  # which of the caller's texts each vector is
    languages: tuple[str, ...] = ("en",)  # each vector's language (one: all the same)

    def search(
        self, index: PassageIndex, k: int, among: Sequence[int] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), one row per vector, on MiniLM's scale; -1 ids pad."""
        scores, ids = getattr(index, self.target).search(self.vectors, k, among)
        if self.without is not None:
            skipped = getattr(index, self.without).holds(ids.ravel()).reshape(ids.shape)
            ids = np.where(skipped, -1, ids)
            scores = np.where(skipped, -np.inf, scores)
            order = np.argsort(-scores, axis=1, kind="stable")
            scores = np.take_along_axis(scores, order, axis=1)
            ids = np.take_along_axis(ids, order, axis=1)
        if self.mapped:
            query_codes = np.asarray([language_code(lang) for lang in self.languages])
            passage_codes = getattr(index, self.target).languages_of(ids)
            mapped = get_calibration().to_minilm_scale(scores, query_codes[:, None], passage_codes)
            scores = np.where(ids >= 0, mapped, -np.inf).astype(np.float32)
            if len(scores[0]) > 1:  # a language pair's map can reorder one model's scores
                order = np.argsort(-scores, axis=1, kind="stable")
                scores = np.take_along_axis(scores, order, axis=1)
                ids = np.take_along_axis(ids, order, axis=1)
        return scores, ids


@dataclass
class _Loaded:
    version: str
    manifest: Manifest
    index: PassageIndex
    seq: int


def _damaged_message(version: str | None, damage: SnapshotDamaged) -> str:
    return (
        f"The search index (snapshot {version}) is damaged: {damage}. Searches are off until "
        "it is rebuilt: run `flask --app wsgi index rebuild`."
    )


def _build_index(parts: list[_Encoded], dimension: int, ml_dimension: int) -> PassageIndex:
    """Build the indexes from encoded batches, each profile's rows kept together; the
    multilingual ones 8-bit scalar quantised (see partnermatch.matching.index)."""

    def build(name: str, dimension: int, quantised: bool = False) -> VectorIndex:
        return VectorIndex.build(
            dimension,
            np.concatenate([np.zeros(0, np.int64), *(getattr(p, f"{name}_ids") for p in parts)]),
            np.concatenate(
                [
                    np.zeros((0, dimension), np.float32),
                    *(getattr(p, f"{name}_vectors") for p in parts),
                ]
            ),
            quantised=quantised,
            languages=np.concatenate(
                [np.zeros(0, np.uint8), *(getattr(p, f"{name}_languages") for p in parts)]
            ),
        )

    return PassageIndex(
        build("capability", dimension),
        build("needs", dimension),
        build("capability_ml", ml_dimension, quantised=True),
        build("needs_ml", ml_dimension, quantised=True),
    )


def _profiles_with_passages(profile_ids: Sequence[int]) -> Iterator[tuple[Profile, list[Passage]]]:
    query = (
        select(Profile)
        .where(Profile.id.in_(profile_ids))
        .options(selectinload(Profile.evidence), selectinload(Profile.organisation))
    )
    for profile in db.session.scalars(query):
        yield profile, profile_passages(profile)


class MatchingEngine:
    """Holds the index this process serves and keeps it in step with the database."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        multilingual: MultilingualEmbedder | None = None,
        mode: MultilingualMode = MultilingualMode.OFF,
    ) -> None:
        """`multilingual` is required unless `mode` is off (then it is never used)."""
        if mode is not MultilingualMode.OFF and multilingual is None:
            raise ValueError(f"The multilingual mode {mode.value!r} needs a multilingual model.")
        self.store = SnapshotStore(index_dir)
        self.embedder = embedder
        self.multilingual = multilingual if mode is not MultilingualMode.OFF else None
        self.mode = mode
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        # The snapshot version that failed to load, and why: reported, not read again.
        self._damaged: tuple[str | None, str] | None = None

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def multilingual_model_id(self) -> str | None:
        return self.multilingual.model_id if self.multilingual else None

    def set_threads(self, threads: int) -> None:
        """Let each model encode on this many threads (a rebuild from the CLI)."""
        self.embedder.threads = threads
        if self.multilingual is not None:
            self.multilingual.threads = threads

    def _reads_with_minilm(self, passage: Passage) -> bool:
        if self.mode is MultilingualMode.OFF:
            return True  # no language detected: off is exactly as before
        return self.mode is MultilingualMode.AUTO and passage.language in MINILM_LANGUAGES

    # --- keeping in step --------------------------------------------------------------------

    def _problem_with(self, manifest: Manifest | None) -> str | None:
        if manifest is None:
            return "The search index has not been built yet: run `flask --app wsgi index rebuild`."
        if manifest.format != SNAPSHOT_FORMAT:
            return (
                f"The search index was written in format {manifest.format} by another version of "
                f"PartnerMatch (this one reads format {SNAPSHOT_FORMAT}): "
                "run `flask --app wsgi index rebuild`."
            )
        if manifest.model_id != self.model_id:
            return (
                f"The search index was built with the model {manifest.model_id!r}, but the "
                f"configured model is {self.model_id!r}: run `flask --app wsgi index rebuild`."
            )
        if (manifest.multilingual_mode, manifest.multilingual_model_id) != (
            self.mode.value,
            self.multilingual_model_id,
        ):
            return (
                f"The search index was built with PARTNERMATCH_MULTILINGUAL="
                f"{manifest.multilingual_mode} ({manifest.multilingual_model_id or 'no model'}), "
                f"but the setting is {self.mode.value} "
                f"({self.multilingual_model_id or 'no model'}): "
                "run `flask --app wsgi index rebuild`."
            )
        return None

    def _manifest_and_problem(self, version: str | None) -> tuple[Manifest | None, str | None]:
        try:
            manifest = self.store.read_manifest(version)
            if manifest is not None and version is not None:
                self.store.check_files(version, manifest)
        except SnapshotDamaged as damage:
            return None, _damaged_message(version, damage)
        return manifest, self._problem_with(manifest)

    def sync(self) -> PassageIndex:
        """Load a newer snapshot if another process wrote one, apply new journal entries,
        and return the index to search; raise IndexUnavailable when there is none to serve."""
        with self._lock:
            version = self.store.current_version()
            if self._loaded is None or self._loaded.version != version:
                self._loaded = None
                if self._damaged and self._damaged[0] == version:
                    raise IndexUnavailable(self._damaged[1])  # known bad: not read again
                _manifest, problem = self._manifest_and_problem(version)
                if problem:
                    raise IndexUnavailable(problem)
                try:
                    manifest, index = self.store.load(version)  # type: ignore[arg-type]
                except SnapshotDamaged as damage:
                    self._damaged = (version, _damaged_message(version, damage))
                    raise IndexUnavailable(self._damaged[1]) from damage
                self._loaded = _Loaded(version, manifest, index, manifest.journal_seq)  # type: ignore[arg-type]
            latest = journal.latest_seq()
            if latest > self._loaded.seq:
                changed = journal.changed_since(self._loaded.seq, latest)
                self._refresh_profiles(self._loaded.index, changed)
                self._loaded.seq = latest
            return self._loaded.index

    def position(self) -> tuple[str, int]:
        """Return the snapshot version and journal position served, once caught up: at two
        equal positions the index is the same, so results computed at one still hold."""
        with self._lock:
            self.sync()
            assert self._loaded is not None  # sync raises when there is nothing to serve
            return self._loaded.version, self._loaded.seq

    def _refresh_profiles(self, index: PassageIndex, profile_ids: Sequence[int]) -> None:
        index.remove_profiles(profile_ids)
        for start in range(0, len(profile_ids), REBUILD_BATCH):
            batch = list(_profiles_with_passages(profile_ids[start : start + REBUILD_BATCH]))
            encoded = self._encode_profiles(batch)
            for name in ("capability", "needs", "capability_ml", "needs_ml"):
                getattr(index, name).add(
                    getattr(encoded, f"{name}_ids"),
                    getattr(encoded, f"{name}_vectors"),
                    getattr(encoded, f"{name}_languages"),
                )

    def _encode_profiles(self, batch: list[tuple[Profile, list[Passage]]]) -> _Encoded:
        """Encode a batch's passages: with MiniLM as the mode says (off: all; auto: English;
        always: none) and, unless off, every passage with the multilingual model."""
        ids: list[int] = []
        texts: list[str] = []
        capability: list[bool] = []
        minilm: list[bool] = []
        languages: list[int] = []
        for profile, passages in batch:
            for position, passage in enumerate(passages):
                ids.append(passage_id(profile.id, position))
                texts.append(passage.text)
                capability.append(passage.source in SEARCHABLE_SOURCES)
                minilm.append(self._reads_with_minilm(passage))
                languages.append(
                    0 if self.mode is MultilingualMode.OFF else language_code(passage.language)
                )
        id_array = np.asarray(ids, dtype=np.int64)
        language_array = np.asarray(languages, dtype=np.uint8)
        searchable = np.asarray(capability, dtype=bool)
        read = np.asarray(minilm, dtype=bool)
        vectors = self.embedder.encode_passages(
            [t for t, m in zip(texts, minilm, strict=True) if m]
        )
        if not len(vectors):
            vectors = np.zeros((0, self.embedder.dimension), np.float32)
        mini_ids, mini_searchable = id_array[read], searchable[read]
        mini_languages = language_array[read]
        if self.multilingual is not None:
            ml_vectors = self.multilingual.encode_passages(texts)
            ml_ids, ml_searchable, ml_languages = id_array, searchable, language_array
        else:
            ml_vectors = np.zeros((0, MULTILINGUAL_DIMENSION), np.float32)
            ml_ids, ml_searchable, ml_languages = id_array[:0], searchable[:0], language_array[:0]
        return _Encoded(
            mini_ids[mini_searchable],
            vectors[mini_searchable],
            mini_ids[~mini_searchable],
            vectors[~mini_searchable],
            ml_ids[ml_searchable],
            ml_vectors[ml_searchable],
            ml_ids[~ml_searchable],
            ml_vectors[~ml_searchable],
            mini_languages[mini_searchable],
            mini_languages[~mini_searchable],
            ml_languages[ml_searchable],
            ml_languages[~ml_searchable],
        )

    # --- rebuilding -------------------------------------------------------------------------

    def _profile_id_batches(self) -> Iterator[list[int]]:
        ids = list(db.session.scalars(select(Profile.id).order_by(Profile.id)))
        for start in range(0, len(ids), REBUILD_BATCH):
            yield ids[start : start + REBUILD_BATCH]

    def profile_count(self) -> int:
        """Return how many profiles the database holds (a rebuild's amount of work)."""
        return db.session.scalar(select(func.count(Profile.id))) or 0

    def rebuild(self, on_progress: ProgressCallback | None = None) -> Manifest:
        """Index every profile into a new snapshot and make it current.

        The journal position is read before the profiles: a change committed during the
        rebuild is applied again afterwards, never lost. Should anything fail before the new
        snapshot is complete, the previous one keeps serving.
        """
        seq = journal.latest_seq()
        parts: list[_Encoded] = []
        for batch_ids in self._profile_id_batches():
            parts.append(self._encode_profiles(list(_profiles_with_passages(batch_ids))))
            db.session.expire_all()
            if on_progress:
                on_progress(len(batch_ids))
        index = _build_index(parts, self.embedder.dimension, MULTILINGUAL_DIMENSION)
        manifest = self.store.save(
            index,
            model_id=self.model_id,
            journal_seq=seq,
            multilingual_model_id=self.multilingual_model_id,
            multilingual_mode=self.mode.value,
        )
        journal.prune(seq)
        db.session.commit()
        return manifest

    # --- reporting --------------------------------------------------------------------------

    def status(self) -> IndexStatus:
        """Compare the index with the database, without loading any model."""
        version = self.store.current_version()
        manifest, problem = self._manifest_and_problem(version)
        if problem is None and self._damaged and self._damaged[0] == version:
            problem = self._damaged[1]
        database_profiles = self.profile_count()
        if problem or manifest is None:
            return IndexStatus(self.model_id, database_profiles, None, manifest, 0, problem)
        pending = len(journal.changed_since(manifest.journal_seq, journal.latest_seq()))
        with self._lock:
            loaded = self._loaded
            indexed = (
                len(loaded.index.profile_ids)
                if loaded and loaded.version == self.store.current_version()
                else manifest.profiles
            )
            if loaded and loaded.version == self.store.current_version():
                pending = len(journal.changed_since(loaded.seq, journal.latest_seq()))
        return IndexStatus(self.model_id, database_profiles, indexed, manifest, pending, None)

    # --- searching --------------------------------------------------------------------------

    def search_vector(
        self, query: np.ndarray, filters: ProfileFilters | None, limit: int, offset: int = 0
    ) -> SearchPage:
        """Return one page of profiles ranked by their aggregated passage scores (a MiniLM
        query vector against the capability index)."""
        return self._search_legs([_Leg("capability", query)], filters, limit, offset)

    def _search_legs(
        self, legs: list[_Leg], filters: ProfileFilters | None, limit: int, offset: int
    ) -> SearchPage:
        """Return one page of profiles ranked by their aggregated passage scores, the passage
        hits of every leg (each model's search) merged on MiniLM's scale.

        Filters are applied inside FAISS (an IDSelector over the passing profiles' ids), so a
        filtered search ranks only profiles that pass, however few they are. When the passing
        profiles hold at most EXACT_POOL_PASSAGES passages, every one of them is scored; above
        that, the candidates are the profiles that own the nearest passages (see README).
        """
        excluded: set[int] = set(filters.exclude_profiles) if filters else set()
        if excluded:
            # A few known profiles (the searcher's own) are left out after ranking: as a
            # filter they would turn every member's search into a filtered one, and the pool
            # below is exact for them since it asks for that many more.
            filters = replace(filters, exclude_profiles=())  # type: ignore[arg-type]
        with self._lock:
            index = self.sync()
            parts = [getattr(index, leg.target) for leg in legs]
            known: set[int] = set().union(*(part.profile_ids for part in parts))
            among: list[int] | None = None
            if filters is not None and filters != ProfileFilters():
                among = [pid for pid in filtered_profile_ids(filters) if pid in known]
                total, available = len(among), sum(part.count_for(among) for part in parts)
                total -= len(excluded.intersection(among))
            else:
                total, available = len(known), sum(part.size for part in parts)
                total -= len(excluded & known)
            page_end = offset + limit
            wanted = page_end + len(excluded)
            if available == 0 or limit == 0 or offset >= total:
                return SearchPage([], total, offset, limit)
            if available <= EXACT_POOL_PASSAGES:
                pool = among if among is not None else sorted(known)
            else:
                pool = sorted(
                    set().union(
                        *(
                            self._candidate_pool(
                                index,
                                leg,
                                among,
                                wanted,
                                part.count_for(among) if among is not None else part.size,
                            )
                            for leg, part in zip(legs, parts, strict=True)
                        )
                    )
                )
            found = [
                leg.search(index, part.count_for(pool), pool)
                for leg, part in zip(legs, parts, strict=True)
                if part.count_for(pool)
            ]
        if not found:
            return SearchPage([], total, offset, limit)
        scores = np.concatenate([row_scores[0] for row_scores, _ in found])
        ids = np.concatenate([row_ids[0] for _, row_ids in found])
        order = np.argsort(-scores, kind="stable")
        ranked = sorted(aggregate_passages(scores[order], ids[order]), key=lambda hit: -hit.score)
        ranked = [hit for hit in ranked if hit.profile_id not in excluded]
        return SearchPage(ranked[offset:page_end], total, offset, limit)

    @staticmethod
    def _candidate_pool(
        index: PassageIndex, leg: _Leg, among: list[int] | None, wanted: int, available: int
    ) -> list[int]:
        """Return the profiles owning the nearest passages: at least CANDIDATE_FACTOR x wanted."""
        if available == 0:
            return []
        k = min(available, max(wanted * CANDIDATE_FACTOR * 2, MIN_CANDIDATE_PASSAGES))
        while True:
            _, ids = leg.search(index, k, among)
            pool = list(dict.fromkeys(int(v) // MAX_PASSAGES for v in ids[0] if v >= 0))
            if len(pool) >= wanted * CANDIDATE_FACTOR or k >= available:
                return pool
            k = min(available, k * 4)

    def best_per_profile(
        self,
        vectors: np.ndarray,
        target: str,
        *,
        among: Sequence[int] | None = None,
        depth: int = 2000,
    ) -> dict[int, PairHit]:
        """For each profile, the best (query vector, passage) pair in the target index.

        `target` is "capability" or "needs" (MiniLM vectors). With `among`, every passage of
        those profiles is scored (exact); without it, the `depth` nearest passages of each
        vector are.
        """
        return self._best_per_profile([_Leg(target, vectors)], among=among, depth=depth)

    def _best_per_profile(
        self, legs: list[_Leg], *, among: Sequence[int] | None, depth: int
    ) -> dict[int, PairHit]:
        best: dict[int, PairHit] = {}
        with self._lock:
            index = self.sync()
            found = []
            for leg in legs:
                if not len(leg.vectors):
                    continue
                part = getattr(index, leg.target)
                available = part.count_for(among) if among is not None else part.size
                k = available if among is not None else min(available, depth)
                if k:
                    found.append((leg, *leg.search(index, k, among)))
        for leg, scores, ids in found:
            for row, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
                query_index = leg.positions[row] if leg.positions is not None else row
                for score, vector_id in zip(row_scores, row_ids, strict=True):
                    if vector_id < 0:
                        break
                    profile_id, position = split_passage_id(vector_id)
                    known = best.get(profile_id)
                    if known is None or score > known.score:
                        best[profile_id] = PairHit(profile_id, float(score), query_index, position)
        return best

    def best_passage_pairs(
        self,
        passages: Sequence[Passage],
        target: str,
        *,
        among: Sequence[int] | None = None,
        depth: int = 2000,
    ) -> dict[int, PairHit]:
        """For each profile, the best (one of `passages`, passage) pair in the target index
        ("capability" or "needs"); PairHit.query_index is the position in `passages`.

        Each passage is read as the multilingual mode says: off, MiniLM only; always, the
        multilingual model only; auto, an English passage meets English passages through
        MiniLM and the others through the multilingual model, a passage in another language
        meets every passage through the multilingual model. Scores are on MiniLM's scale.
        """
        passages = list(passages)
        if not passages:
            return {}
        self.sync()  # fail fast, before any encoding, when there is no index to serve
        legs = self._passage_legs(passages, target)
        return self._best_per_profile(legs, among=among, depth=depth)

    def _non_english_passages(self, target: str) -> bool:
        """True when the target holds passages that only the multilingual model reads."""
        index = self.sync()
        return getattr(index, f"{target}_ml").size > getattr(index, target).size

    def _passage_legs(self, passages: list[Passage], target: str) -> list[_Leg]:
        texts = [passage.text for passage in passages]
        if self.multilingual is None:
            return [_Leg(target, self.embedder.encode_passages(texts))]
        # The asker's passages search: the model reads them as queries (its "query: " prefix),
        # as the calibration onto MiniLM's scale was fitted.
        ml_vectors = self.multilingual.queries.encode_passages(texts)
        languages = [passage.language for passage in passages]
        if self.mode is MultilingualMode.ALWAYS:
            return [_Leg(f"{target}_ml", ml_vectors, mapped=True, languages=tuple(languages))]
        english = [i for i, passage in enumerate(passages) if self._reads_with_minilm(passage)]
        others = [i for i in range(len(passages)) if i not in set(english)]
        legs = []
        if english:
            vectors = self.embedder.encode_passages([texts[i] for i in english])
            legs.append(_Leg(target, vectors, positions=tuple(english)))
            if self._non_english_passages(target):
                legs.append(
                    _Leg(
                        f"{target}_ml",
                        ml_vectors[english],
                        mapped=True,
                        without=target,
                        positions=tuple(english),
                        languages=tuple(languages[i] for i in english),
                    )
                )
        if others:
            legs.append(
                _Leg(
                    f"{target}_ml",
                    ml_vectors[others],
                    mapped=True,
                    positions=tuple(others),
                    languages=tuple(languages[i] for i in others),
                )
            )
        return legs

    def _query_legs(self, query: str) -> list[_Leg]:
        if self.multilingual is None:
            return [_Leg("capability", self.embedder.encode_query(query))]
        language = matching_language(query)
        if self.mode is MultilingualMode.ALWAYS or language not in MINILM_LANGUAGES:
            vector = self.multilingual.encode_query(query)
            return [_Leg("capability_ml", vector, mapped=True, languages=(language,))]
        legs = [_Leg("capability", self.embedder.encode_query(query))]
        if self._non_english_passages("capability"):
            vector = self.multilingual.encode_query(query)
            legs.append(
                _Leg(
                    "capability_ml",
                    vector,
                    mapped=True,
                    without="capability",
                    languages=(language,),
                )
            )
        return legs

    def search(
        self, query: str, filters: ProfileFilters | None = None, limit: int = 20, offset: int = 0
    ) -> SearchPage:
        """Search profiles by the meaning of a plain-language text, in any language the
        multilingual mode reads (see _query_legs)."""
        self.sync()  # before encoding: a missing index is reported without loading the model
        return self._search_legs(self._query_legs(query), filters, limit, offset)
