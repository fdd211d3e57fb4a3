"""The matching engine of one process: loads the current snapshot, follows the journal,
rebuilds, reports its status and answers searches."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from partnermatch.extensions import db
from partnermatch.matching import journal
from partnermatch.matching.embedder import Embedder
from partnermatch.matching.index import (
    SNAPSHOT_FORMAT,
    Manifest,
    PassageIndex,
    SnapshotDamaged,
    SnapshotStore,
    VectorIndex,
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


def _build_index(parts: list[_Encoded], dimension: int) -> PassageIndex:
    """Build both indexes from encoded batches, each profile's rows kept together."""

    def build(ids: list[np.ndarray], vectors: list[np.ndarray]) -> VectorIndex:
        return VectorIndex.build(
            dimension,
            np.concatenate([np.zeros(0, np.int64), *ids]),
            np.concatenate([np.zeros((0, dimension), np.float32), *vectors]),
        )

    return PassageIndex(
        build([p.capability_ids for p in parts], [p.capability_vectors for p in parts]),
        build([p.needs_ids for p in parts], [p.needs_vectors for p in parts]),
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

    def __init__(self, index_dir: Path, embedder: Embedder) -> None:
        self.store = SnapshotStore(index_dir)
        self.embedder = embedder
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        # The snapshot version that failed to load, and why: reported, not read again.
        self._damaged: tuple[str | None, str] | None = None

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

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

    def _refresh_profiles(self, index: PassageIndex, profile_ids: Sequence[int]) -> None:
        index.remove_profiles(profile_ids)
        for start in range(0, len(profile_ids), REBUILD_BATCH):
            batch = list(_profiles_with_passages(profile_ids[start : start + REBUILD_BATCH]))
            encoded = self._encode_profiles(batch)
            index.capability.add(encoded.capability_ids, encoded.capability_vectors)
            index.needs.add(encoded.needs_ids, encoded.needs_vectors)

    def _encode_profiles(self, batch: list[tuple[Profile, list[Passage]]]) -> _Encoded:
        ids: list[int] = []
        texts: list[str] = []
        capability: list[bool] = []
        for profile, passages in batch:
            for position, passage in enumerate(passages):
                ids.append(passage_id(profile.id, position))
                texts.append(passage.text)
                capability.append(passage.source in SEARCHABLE_SOURCES)
        vectors = self.embedder.encode_passages(texts)
        id_array = np.asarray(ids, dtype=np.int64)
        mask = np.asarray(capability, dtype=bool)
        return _Encoded(id_array[mask], vectors[mask], id_array[~mask], vectors[~mask])

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
        index = _build_index(parts, self.embedder.dimension)
        manifest = self.store.save(index, model_id=self.model_id, journal_seq=seq)
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
        """Return one page of profiles ranked by their aggregated passage scores.

        Filters are applied inside FAISS (an IDSelector over the passing profiles' ids), so a
        filtered search ranks only profiles that pass, however few they are. When the passing
        profiles hold at most EXACT_POOL_PASSAGES passages, every one of them is scored; above
        that, the candidates are the profiles that own the nearest passages (see README).
        """
        with self._lock:
            index = self.sync().capability
            among: list[int] | None = None
            if filters is not None and filters != ProfileFilters():
                among = [pid for pid in filtered_profile_ids(filters) if index.has_profile(pid)]
                total, available = len(among), index.count_for(among)
            else:
                total, available = len(index.profile_ids), index.size
            wanted = offset + limit
            if available == 0 or wanted == 0 or offset >= total:
                return SearchPage([], total, offset, limit)
            if available <= EXACT_POOL_PASSAGES:
                pool = among if among is not None else sorted(index.profile_ids)
            else:
                pool = self._candidate_pool(index, query, among, wanted, available)
            scores, ids = index.search(query, index.count_for(pool), pool)
        ranked = sorted(aggregate_passages(scores[0], ids[0]), key=lambda hit: -hit.score)
        return SearchPage(ranked[offset:wanted], total, offset, limit)

    @staticmethod
    def _candidate_pool(
        index: VectorIndex, query: np.ndarray, among: list[int] | None, wanted: int, available: int
    ) -> list[int]:
        """Return the profiles owning the nearest passages: at least CANDIDATE_FACTOR x wanted."""
        k = min(available, max(wanted * CANDIDATE_FACTOR * 2, MIN_CANDIDATE_PASSAGES))
        while True:
            _, ids = index.search(query, k, among)
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

        `target` is "capability" or "needs". With `among`, every passage of those profiles is
        scored (exact); without it, the `depth` nearest passages of each vector are.
        """
        if not len(vectors):
            return {}
        with self._lock:
            index = getattr(self.sync(), target)
            available = index.count_for(among) if among is not None else index.size
            k = available if among is not None else min(available, depth)
            if k == 0:
                return {}
            scores, ids = index.search(vectors, k, among)
        best: dict[int, PairHit] = {}
        for query_index, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
            for score, vector_id in zip(row_scores, row_ids, strict=True):
                if vector_id < 0:
                    break
                profile_id, position = split_passage_id(vector_id)
                known = best.get(profile_id)
                if known is None or score > known.score:
                    best[profile_id] = PairHit(profile_id, float(score), query_index, position)
        return best

    def search(
        self, query: str, filters: ProfileFilters | None = None, limit: int = 20, offset: int = 0
    ) -> SearchPage:
        """Search profiles by the meaning of a plain-language text."""
        self.sync()  # before encoding: a missing index is reported without loading the model
        return self.search_vector(self.embedder.encode_query(query), filters, limit, offset)
