"""The matching engine of one process: loads the current snapshot, follows the journal,
rebuilds, reports its status and answers searches.

What it reads of the programme comes through a ProfileSource (partnermatch.matching.source);
encoding is partnermatch.matching.encoding's, retrieval partnermatch.matching.retrieval's,
ranking partnermatch.matching.ranking's. It returns facts (ids, scores, positions); words
for people are partnermatch.presentation's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from partnermatch.matching import ranking
from partnermatch.matching.asks import split_asks
from partnermatch.matching.embedder import Embedder, MultilingualEmbedder
from partnermatch.matching.encoding import EncodedBatch, PassageEncoder
from partnermatch.matching.index import PassageIndex, VectorIndex
from partnermatch.matching.kept import KeptResults
from partnermatch.matching.multilingual import MultilingualMode
from partnermatch.matching.passages import MAX_PASSAGES, Passage
from partnermatch.matching.ranking import DEFAULT_FUSION, Fusion, ProfileHit
from partnermatch.matching.retrieval import DENSE, DenseLeg, HybridRetriever, Leg
from partnermatch.matching.snapshots import (
    SNAPSHOT_FORMAT,
    Manifest,
    SnapshotDamaged,
    SnapshotStore,
)
from partnermatch.matching.source import ProfilePassages, ProfileSource

# Profiles per step of a rebuild: small enough for a lively progress bar.
REBUILD_BATCH = 64
# Passages a search may encode while catching up with the journal (texts not yet in the
# embedding cache); a profile whose new passages would pass it waits, its old passages
# still served, until a catch-up job (encode_pending) or the next rebuild has encoded them.
SYNC_ENCODE_PASSAGES = 32
ProgressCallback = Callable[[int], None]
# Recommendations kept over all lists (a profile page shows 6, a cohort asks 40 an SME):
# about 1 KB each with their quotes and factors, some 10 MB.
KEPT_RESULTS = 10_000


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
    catching_up: int = 0  # changed profiles waiting for their passages to be encoded

    @property
    def stale(self) -> bool:
        """True when the index is missing, built with another model, or behind the database."""
        return (
            self.problem is not None
            or self.pending_changes > 0
            or (self.indexed_profiles != self.database_profiles)
        )


@dataclass(frozen=True)
class PairHit:
    """A profile's best passage against any of several query texts: on each leg."""

    profile_id: int
    score: float  # the best dense pair's similarity (0 when no dense leg found it)
    query_index: int
    position: int
    lexical: float = 0.0  # the best lexical pair's coverage
    lexical_query_index: int | None = None
    lexical_position: int | None = None


@dataclass
class SearchPage:
    hits: list[ProfileHit]  # the profiles on this page, best first
    total: int  # profiles that pass the filters
    offset: int
    limit: int
    ranked: list[ProfileHit] = field(default_factory=list)  # every profile ranked


@dataclass
class _Loaded:
    version: str
    manifest: Manifest
    index: PassageIndex
    seq: int
    pid: int = field(default_factory=os.getpid)
    # Changed profiles whose new passages are not encoded yet (see SYNC_ENCODE_PASSAGES).
    waiting: set[int] = field(default_factory=set)


def _damaged_message(version: str | None, damage: SnapshotDamaged) -> str:
    return (
        f"The search index (snapshot {version}) is damaged: {damage}. Searches are off until "
        "it is rebuilt: run `flask --app wsgi index rebuild`."
    )


def _build_index(parts: list[EncodedBatch], dimensions: dict[str, int]) -> PassageIndex:
    """Build the vector indexes from encoded batches, each profile's rows kept together; the
    multilingual ones 8-bit scalar quantised (see partnermatch.matching.index)."""
    merged = EncodedBatch.concatenate(parts, dimensions)
    built = {
        name: VectorIndex.build(
            dimensions[name],
            part.ids,
            part.vectors,
            quantised=name.endswith("_ml"),
            languages=part.languages,
        )
        for name, part in merged.parts.items()
    }
    return PassageIndex(**built)


class MatchingEngine:
    """Holds the index this process serves and keeps it in step with the programme."""

    def __init__(
        self,
        index_dir: Path,
        embedder: Embedder,
        multilingual: MultilingualEmbedder | None = None,
        mode: MultilingualMode = MultilingualMode.OFF,
        *,
        source: ProfileSource,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        """`multilingual` is required unless `mode` is off (then it is never used)."""
        self.store = SnapshotStore(index_dir)
        self.encoder = PassageEncoder(embedder, multilingual, mode)
        self.retriever = HybridRetriever(self.encoder)
        self.source = source
        self.fusion = fusion
        # Results computed at one index position, kept for the next request at the same one
        # (partnermatch.matching.recommend): per app, like the engine.
        self.kept = KeptResults(KEPT_RESULTS)
        self._lock = threading.RLock()
        self._loaded: _Loaded | None = None
        # The snapshot version that failed to load, and why: reported, not read again.
        self._damaged: tuple[str | None, str] | None = None

    @property
    def embedder(self) -> Embedder:
        return self.encoder.embedder

    @property
    def multilingual(self) -> MultilingualEmbedder | None:
        return self.encoder.multilingual

    @property
    def mode(self) -> MultilingualMode:
        return self.encoder.mode

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

    def _forget_loaded(self) -> None:
        if self._loaded is not None and self._loaded.pid == os.getpid():
            self._loaded.index.lexical.close()
        self._loaded = None

    def sync(self) -> PassageIndex:
        """Load a newer snapshot if another process wrote one, apply new journal entries,
        and return the index to search; raise IndexUnavailable when there is none to serve."""
        with self._lock:
            version = self.store.current_version()
            if self._loaded is not None and self._loaded.pid != os.getpid():
                self._loaded = None  # forked: the working copy is the parent's
            if self._loaded is None or self._loaded.version != version:
                self._forget_loaded()
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
            latest = self.source.journal_position()
            loaded = self._loaded
            if latest > loaded.seq or loaded.waiting:
                changed = set(self.source.changed_since(loaded.seq, latest)) | loaded.waiting
                loaded.waiting = self._refresh_profiles(loaded.index, sorted(changed))
                loaded.seq = latest
            return loaded.index

    def position(self) -> tuple[str, int, int]:
        """Return the snapshot version and journal position served (and how many changed
        profiles wait), once caught up: at two equal positions the index is the same, so
        results computed at one still hold."""
        with self._lock:
            self.sync()
            assert self._loaded is not None  # sync raises when there is nothing to serve
            return self._loaded.version, self._loaded.seq, len(self._loaded.waiting)

    @property
    def catching_up(self) -> int:
        """How many changed profiles wait for their new passages to be encoded."""
        with self._lock:
            return len(self._loaded.waiting) if self._loaded else 0

    def _refresh_profiles(self, index: PassageIndex, profile_ids: Sequence[int]) -> set[int]:
        """Re-index changed profiles whose passages can be encoded within the budget; return
        the ids of those left waiting (their old passages still served)."""
        budget = SYNC_ENCODE_PASSAGES
        waiting: set[int] = set()
        for start in range(0, len(profile_ids), REBUILD_BATCH):
            ids = profile_ids[start : start + REBUILD_BATCH]
            found = self.source.passages(ids)
            ready: list[ProfilePassages] = []
            for profile_id, passages in found:
                cost = self.encoder.uncached(passages)
                if cost and cost > budget:
                    waiting.add(profile_id)
                    continue
                budget -= cost
                ready.append((profile_id, passages))
            gone = set(ids) - {profile_id for profile_id, _ in found}
            index.remove_profiles([*gone, *(profile_id for profile_id, _ in ready)])
            encoded = self.encoder.encode(ready)
            index.add(encoded.parts, encoded.lexical)
        index.flush()
        return waiting

    def encode_pending(self, on_progress: ProgressCallback | None = None) -> int:
        """Encode the passages of the profiles waiting to be re-indexed into the embedding
        cache (heavy: a job's work, not a request's); searches then apply them at once.
        Return how many profiles were encoded."""
        with self._lock:
            self.sync()
            waiting = sorted(self._loaded.waiting) if self._loaded else []
        for start in range(0, len(waiting), REBUILD_BATCH):
            batch = self.source.passages(waiting[start : start + REBUILD_BATCH])
            self.encoder.encode(batch)
            self.source.release()
            if on_progress:
                on_progress(len(batch))
        return len(waiting)

    # --- rebuilding -------------------------------------------------------------------------

    def profile_count(self) -> int:
        """Return how many profiles the programme holds (a rebuild's amount of work)."""
        return self.source.profile_count()

    def uncached_texts(self) -> dict[str, list[str]]:
        """Return, for each model, the distinct passage texts of the programme it has not
        cached yet: what a rebuild would encode (workers can encode them first)."""
        ids = self.source.profile_ids()
        wanted: dict[str, dict[str, None]] = {name: {} for name in self.encoder.models()}
        for start in range(0, len(ids), REBUILD_BATCH):
            batch = self.source.passages(ids[start : start + REBUILD_BATCH])
            for name, texts in self.encoder.texts_to_encode(batch).items():
                if name in wanted:  # "multilingual" reads nothing when the mode is off
                    wanted[name].update(dict.fromkeys(texts))
            self.source.release()
        return {name: self.encoder.missing(name, list(texts)) for name, texts in wanted.items()}

    def rebuild(self, on_progress: ProgressCallback | None = None) -> Manifest:
        """Index every profile into a new snapshot and make it current.

        The journal position is read before the profiles: a change committed during the
        rebuild is applied again afterwards, never lost. Should anything fail before the new
        snapshot is complete, the previous one keeps serving.
        """
        seq = self.source.journal_position()
        ids = self.source.profile_ids()
        parts: list[EncodedBatch] = []
        with self.store.staging() as staging:
            lexical = self.store.lexical_builder(staging, self.embedder.threads)
            for start in range(0, len(ids), REBUILD_BATCH):
                batch_ids = ids[start : start + REBUILD_BATCH]
                encoded = self.encoder.encode(self.source.passages(batch_ids))
                lexical.add(encoded.lexical)
                parts.append(replace(encoded, lexical=[]))
                self.source.release()
                if on_progress:
                    on_progress(len(batch_ids))
            lexical.finish()
            index = _build_index(parts, self.encoder.dimensions)
            manifest = self.store.save(
                index,
                model_id=self.model_id,
                journal_seq=seq,
                multilingual_model_id=self.multilingual_model_id,
                multilingual_mode=self.mode.value,
                staging=staging,
                lexical_passages=lexical.count,
            )
        self.source.snapshot_written(seq)
        return manifest

    # --- reporting --------------------------------------------------------------------------

    def status(self) -> IndexStatus:
        """Compare the index with the programme, without loading any model."""
        version = self.store.current_version()
        manifest, problem = self._manifest_and_problem(version)
        if problem is None and self._damaged and self._damaged[0] == version:
            problem = self._damaged[1]
        database_profiles = self.profile_count()
        if problem or manifest is None:
            return IndexStatus(self.model_id, database_profiles, None, manifest, 0, problem)
        latest = self.source.journal_position()
        pending = len(self.source.changed_since(manifest.journal_seq, latest))
        catching_up = 0
        with self._lock:
            loaded = self._loaded
            current = loaded is not None and loaded.version == version
            indexed = len(loaded.index.profile_ids) if current else manifest.profiles  # type: ignore[union-attr]
            if current:
                pending = len(self.source.changed_since(loaded.seq, latest))  # type: ignore[union-attr]
                catching_up = len(loaded.waiting)  # type: ignore[union-attr]
        return IndexStatus(
            self.model_id,
            database_profiles,
            indexed,
            manifest,
            pending + catching_up,
            None,
            catching_up,
        )

    # --- searching --------------------------------------------------------------------------

    def _pool(
        self,
        index: PassageIndex,
        legs: list[Leg],
        among: list[int] | None,
        known: set[int],
        wanted: int,
    ) -> list[int]:
        """The profiles to score exactly: all that pass (when they hold few enough passages)
        or the owners of each leg's nearest passages."""
        parts = {leg.target: index.vectors(leg.target) for leg in legs}
        available = sum(
            part.count_for(among) if among is not None else part.size for part in parts.values()
        )
        if available <= ranking.EXACT_POOL_PASSAGES:
            return among if among is not None else sorted(known)
        pooled: set[int] = set()
        for leg in legs:
            part = index.vectors(leg.target)
            leg_available = part.count_for(among) if among is not None else part.size
            pooled.update(
                ranking.candidate_pool(
                    leg,
                    lambda leg, k, among: leg.search(index, k, among),
                    among,
                    wanted,
                    leg_available,
                )
            )
        return sorted(pooled)

    def search(
        self,
        query: str,
        filters: Any = None,
        limit: int = 20,
        offset: int = 0,
        *,
        needs_window: int = 0,
    ) -> SearchPage:
        """Search profiles by a plain-language text, in any language the multilingual mode
        reads: one page of profiles ranked by their fused passage scores.

        Filters are resolved by the source and applied inside each leg (an IDSelector, a
        term set), so a filtered search ranks only profiles that pass, however few they are.
        When the passing profiles hold at most ranking.EXACT_POOL_PASSAGES passages, every one
        of them is scored; above that, the candidates are the owners of the nearest passages.

        With `needs_window`, the best-ranked that many profiles also get the query's
        similarity to their own needs (ProfileHit.same_need: is it a peer's problem too?),
        from the same query vectors.
        """
        excluded: set[int] = set(getattr(filters, "exclude_profiles", ()) or ())
        asks = split_asks(query)
        asks = asks if len(asks) > 1 else []
        with self._lock:
            index = self.sync()
            among = self.source.filtered_ids(filters)
            legs = self.retriever.query_legs(query, index, asks=asks, among=among)
            dense_parts = [index.vectors(leg.target) for leg in legs if leg.kind == DENSE]
            known: set[int] = set().union(*(part.profile_ids for part in dense_parts))
            if among is not None:
                among = [pid for pid in among if pid in known]
                total = len(among) - len(excluded.intersection(among))
                available = sum(part.count_for(among) for part in dense_parts)
            else:
                total = len(known) - len(excluded & known)
                available = sum(part.size for part in dense_parts)
            page_end = offset + limit
            if available == 0 or limit == 0 or offset >= total:
                return SearchPage([], total, offset, limit)
            # A few known profiles (the searcher's own) are left out after ranking: as a
            # filter they would turn every member's search into a filtered one, and the pool
            # is exact for them since it asks for that many more.
            pool = self._pool(index, legs, among, known, page_end + len(excluded))
            found = [
                (leg, leg.search(index, index.vectors(leg.target).count_for(pool), pool))
                for leg in legs
                if index.vectors(leg.target).count_for(pool)
            ]
        ranked = [
            hit
            for hit in ranking.rank_profiles(found, self.fusion)
            if hit.profile_id not in excluded
        ]
        if needs_window and ranked:
            window = [hit.profile_id for hit in ranked[:needs_window]]
            same_need = self._needs_scores(legs, window)
            ranked = [
                replace(
                    hit,
                    same_need=same_need[hit.profile_id].score,
                    same_need_lexical=same_need[hit.profile_id].lexical,
                )
                if i < needs_window and hit.profile_id in same_need
                else hit
                for i, hit in enumerate(ranked)
            ]
        return SearchPage(ranked[offset:page_end], total, offset, limit, ranked)

    def _needs_scores(self, legs: list[Leg], among: list[int]) -> dict[int, PairHit]:
        """How each profile's needs match the whole query of these legs (the same vectors
        and texts, against the needs passages)."""
        needs_legs = [
            replace(
                leg,
                target=leg.target.replace("capability", "needs"),
                without=leg.without.replace("capability", "needs") if leg.without else None,
                vectors=leg.vectors[:1],
                positions=(0,),
                languages=leg.languages[:1],
            )
            if isinstance(leg, DenseLeg)
            else replace(leg, target="needs", texts=leg.texts[:1], positions=(0,))  # type: ignore[arg-type]
            for leg in legs
        ]
        with self._lock:
            index = self.sync()
            found = [
                (leg, *leg.search(index, index.vectors(leg.target).count_for(among), among))
                for leg in needs_legs
                if index.vectors(leg.target).count_for(among)
            ]
        return _best_pairs(found)

    def best_passage_pairs(
        self,
        passages: Sequence[Passage],
        target: str,
        *,
        among: Sequence[int] | None = None,
        depth: int = 2000,
    ) -> dict[int, PairHit]:
        """For each profile, its best pair with any of the passages (see pairs_by_passage)."""
        return {
            profile_id: _best_of(by_query)
            for profile_id, by_query in self.pairs_by_passage(
                passages, target, among=among, depth=depth
            ).items()
        }

    def pairs_by_passage(
        self,
        passages: Sequence[Passage],
        target: str,
        *,
        among: Sequence[int] | None = None,
        depth: int = 2000,
    ) -> dict[int, dict[int, PairHit]]:
        """For each profile and each of `passages`, the best pair with one of the profile's
        passages in the target index ("capability" or "needs"), by position in `passages`.

        With `among`, every passage of those profiles is scored (exact); without it, the
        `depth` nearest passages of each are. Dense scores are on MiniLM's scale; against
        the capability passages, the lexical leg's best pair is given too.
        """
        passages = list(passages)
        if not passages:
            return {}
        with self._lock:  # sync() before the legs are planned: nothing is encoded without an index
            index = self.sync()
            legs = self.retriever.passage_legs(passages, target, index)
            found = []
            for leg in legs:
                part = index.vectors(leg.target)
                available = part.count_for(among) if among is not None else part.size
                k = available if among is not None else min(available, depth)
                if k:
                    found.append((leg, *leg.search(index, k, among)))
        return _best_pairs_by_query(found)


def _best_per_profile_and_query(
    found: list[tuple[Leg, np.ndarray, np.ndarray]],
) -> dict[tuple[int, int], tuple[float, int]]:
    """The best (score, passage position) of each (profile, query text) over the legs' hits.

    Done in numpy: a recommendation's legs return a few thousand hits each, and a Python
    loop over them was most of a profile page's first view (bench/bench_pages.py). Among
    equal scores the first hit wins (the legs' order, then rank), as a loop would choose.
    """
    scores, vector_ids, queries = [], [], []
    for leg, leg_scores, leg_ids in found:
        leg_ids = np.asarray(leg_ids, dtype=np.int64)
        rows = np.arange(len(leg_ids)) if leg.positions is None else np.asarray(leg.positions)
        row_of_hit = np.broadcast_to(rows[: len(leg_ids), None], leg_ids.shape)
        real = leg_ids >= 0  # an index pads a short row with -1
        scores.append(np.asarray(leg_scores, dtype=np.float64)[real])
        vector_ids.append(leg_ids[real])
        queries.append(row_of_hit[real])
    if not found or not sum(len(part) for part in vector_ids):
        return {}
    score = np.concatenate(scores)
    profile, position = np.divmod(np.concatenate(vector_ids), MAX_PASSAGES)
    query = np.concatenate(queries)
    order = np.lexsort((-score, query, profile))  # stable: ties keep their first hit
    profile, query, score, position = profile[order], query[order], score[order], position[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (profile[1:] != profile[:-1]) | (query[1:] != query[:-1])
    return {
        (pid, query_index): (best, at)
        for pid, query_index, best, at in zip(
            profile[first].tolist(),
            query[first].tolist(),
            score[first].tolist(),
            position[first].tolist(),
            strict=True,
        )
    }


def _best_pairs_by_query(
    found: list[tuple[Leg, np.ndarray, np.ndarray]],
) -> dict[int, dict[int, PairHit]]:
    """For each profile and query text, its best dense and lexical pairs."""
    dense = _best_per_profile_and_query([item for item in found if item[0].kind == DENSE])
    lexical = _best_per_profile_and_query([item for item in found if item[0].kind != DENSE])
    pairs: dict[int, dict[int, PairHit]] = {}
    for profile_id, query_index in dense.keys() | lexical.keys():
        lexical_hit = lexical.get((profile_id, query_index))
        score, position = dense.get(
            (profile_id, query_index), (0.0, lexical_hit[1] if lexical_hit else 0)
        )
        pairs.setdefault(profile_id, {})[query_index] = PairHit(
            profile_id,
            score,
            query_index,
            position,
            lexical_hit[0] if lexical_hit else 0.0,
            query_index if lexical_hit else None,
            lexical_hit[1] if lexical_hit else None,
        )
    return pairs


def _best_of(by_query: dict[int, PairHit]) -> PairHit:
    """The best dense pair over every query text, with the best lexical one."""
    dense = max(by_query.values(), key=lambda pair: pair.score)
    lexical = max(by_query.values(), key=lambda pair: pair.lexical)
    return replace(
        dense,
        lexical=lexical.lexical,
        lexical_query_index=lexical.lexical_query_index,
        lexical_position=lexical.lexical_position,
    )


def _best_pairs(found: list[tuple[Leg, np.ndarray, np.ndarray]]) -> dict[int, PairHit]:
    return {pid: _best_of(by_query) for pid, by_query in _best_pairs_by_query(found).items()}
