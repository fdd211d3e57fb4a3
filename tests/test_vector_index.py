"""The vector index on its own, exact and HNSW, with random unit vectors (no model needed)."""

from __future__ import annotations

import os

import faiss
import numpy as np
import pytest

from partnermatch.matching import index as index_module
from partnermatch.matching.index import PassageIndex, VectorIndex
from partnermatch.matching.passages import passage_id
from partnermatch.matching.snapshots import SnapshotStore

DIMENSION = 32
PROFILES = 300
PASSAGES_PER_PROFILE = 4


def unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def corpus() -> tuple[np.ndarray, np.ndarray]:
    ids = np.array(
        [
            passage_id(profile, position)
            for profile in range(1, PROFILES + 1)
            for position in range(PASSAGES_PER_PROFILE)
        ],
        dtype=np.int64,
    )
    return ids, unit_vectors(len(ids), seed=1)


def brute_force(ids, vectors, query, k, allowed=None):
    mask = np.ones(len(ids), bool) if allowed is None else np.isin(ids // 1024, list(allowed))
    scores = vectors[mask] @ query
    order = np.argsort(-scores)[:k]
    return ids[mask][order]


@pytest.fixture(params=["flat", "hnsw"])
def built(request, monkeypatch):
    if request.param == "hnsw":
        monkeypatch.setattr(index_module, "EXACT_LIMIT", 100)
        monkeypatch.setattr(index_module, "EXACT_SUBSET_LIMIT", 50)
    ids, vectors = corpus()
    vector_index = VectorIndex.build(DIMENSION, ids, vectors)
    assert vector_index.kind == request.param
    return vector_index, ids, vectors


def test_unfiltered_search_finds_the_true_neighbours(built):
    vector_index, ids, vectors = built
    recalls = []
    for query in unit_vectors(20, seed=2):
        _, found = vector_index.search(query, 10)
        recalls.append(len(set(found[0]) & set(brute_force(ids, vectors, query, 10))) / 10)

    assert np.mean(recalls) >= 0.98


@pytest.mark.parametrize("share", [0.01, 0.1, 0.5])
def test_filtered_search_is_exact(built, share):
    vector_index, ids, vectors = built
    allowed = list(range(1, PROFILES + 1, int(1 / share)))
    for query in unit_vectors(5, seed=3):
        _, found = vector_index.search(query, 8, allowed)
        expected = brute_force(ids, vectors, query, 8, allowed)
        if vector_index.kind == "hnsw" and len(allowed) * PASSAGES_PER_PROFILE > 50:
            assert len(set(found[0]) & set(expected)) >= 7  # graph walk under a wide filter
        else:
            assert list(found[0]) == list(expected)


def test_removed_profiles_vanish_and_replacements_are_found(built):
    vector_index, ids, vectors = built
    query = vectors[0]  # profile 1's first passage
    replacement = unit_vectors(2, seed=4)

    vector_index.remove_profiles([1])
    _, after_removal = vector_index.search(query, 50)
    vector_index.add(np.array([passage_id(1, 0), passage_id(1, 1)]), replacement)
    scores, after_update = vector_index.search(replacement[1], 1)

    assert not np.isin(after_removal[0] // 1024, [1]).any()
    assert after_update[0][0] == passage_id(1, 1) and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert vector_index.size == len(ids) - PASSAGES_PER_PROFILE + 2
    assert vector_index.count_for([1, 2]) == 2 + PASSAGES_PER_PROFILE
    _, only_one = vector_index.search(query, 10, [1])
    assert set(only_one[0]) - {-1} == {passage_id(1, 0), passage_id(1, 1)}


def test_a_snapshot_round_trips(built, tmp_path):
    vector_index, _, _ = built
    store = SnapshotStore(tmp_path)
    empty = VectorIndex.build(
        DIMENSION, np.zeros(0, np.int64), np.zeros((0, DIMENSION), np.float32)
    )

    manifest = store.save(PassageIndex(vector_index, empty), model_id="m", journal_seq=7)
    loaded_manifest, loaded = store.load(store.current_version())

    assert loaded_manifest == manifest
    assert (manifest.index_type, manifest.journal_seq, manifest.profiles) == (
        vector_index.kind,
        7,
        PROFILES,
    )
    query = unit_vectors(1, seed=5)[0]
    assert list(loaded.capability.search(query, 5)[1][0]) == list(
        vector_index.search(query, 5)[1][0]
    )


def test_a_snapshot_is_readable_by_workers_running_as_another_user(built, tmp_path):
    vector_index, _, _ = built
    store = SnapshotStore(tmp_path)
    empty = VectorIndex.build(
        DIMENSION, np.zeros(0, np.int64), np.zeros((0, DIMENSION), np.float32)
    )
    previous_umask = os.umask(0o077)  # a rebuild run from a locked-down shell
    try:
        store.save(PassageIndex(vector_index, empty), model_id="m", journal_seq=0)
    finally:
        os.umask(previous_umask)

    folder = tmp_path / store.current_version()
    readable = [folder, tmp_path / "CURRENT", *folder.iterdir()]
    assert all(path.stat().st_mode & 0o004 for path in readable)
    assert folder.stat().st_mode & 0o001


def test_only_a_freshly_built_index_is_saved(built, tmp_path):
    vector_index, _, _ = built
    vector_index.remove_profiles([1])
    empty = VectorIndex(DIMENSION)

    with pytest.raises(ValueError, match="freshly built"):
        SnapshotStore(tmp_path).save(PassageIndex(vector_index, empty), model_id="m", journal_seq=0)
    assert SnapshotStore(tmp_path).current_version() is None


def test_each_vector_keeps_its_language_through_edits_and_snapshots(tmp_path):
    ids, vectors = corpus()
    languages = (ids // 1024 % 3).astype(np.uint8)  # profile 1: code 1, 2: code 2, 3: code 0
    vector_index = VectorIndex.build(DIMENSION, ids, vectors, languages=languages)
    first, second = passage_id(1, 0), passage_id(2, 3)

    assert list(vector_index.languages_of(np.array([[first, second, -1]]))[0]) == [1, 2, 0]

    vector_index.remove_profiles([2])
    vector_index.add(np.array([second]), vectors[:1], np.array([5], np.uint8))
    assert list(vector_index.languages_of(np.array([first, second]))) == [1, 5]
    assert vector_index.search(vectors[0], 1, among=[2])[1][0][0] == second

    store = SnapshotStore(tmp_path)
    rebuilt = VectorIndex.build(DIMENSION, ids, vectors, languages=languages)
    empty = VectorIndex.build(
        DIMENSION, np.zeros(0, np.int64), np.zeros((0, DIMENSION), np.float32)
    )
    store.save(PassageIndex(rebuilt, empty), model_id="m", journal_seq=0)
    _, loaded = store.load(store.current_version())
    np.testing.assert_array_equal(loaded.capability.languages_of(ids), languages)


class ThreadCountRecorder:
    """Stands in for the FAISS index and notes how many OpenMP threads a search may use."""

    def __init__(self, base) -> None:
        self.base = base
        self.threads: list[int] = []

    def search(self, *args, **kwargs):
        self.threads.append(faiss.omp_get_max_threads())
        return self.base.search(*args, **kwargs)


def test_a_search_runs_faiss_on_one_thread_and_gives_the_thread_its_count_back(built):
    vector_index, ids, vectors = built
    recorder = ThreadCountRecorder(vector_index.base)
    vector_index.base = recorder
    faiss.omp_set_num_threads(2)

    _, found = vector_index.search(unit_vectors(1, seed=4)[0], 5)

    assert recorder.threads == [index_module.SEARCH_THREADS] == [1]
    assert found[0][0] == brute_force(ids, vectors, unit_vectors(1, seed=4)[0], 1)[0]
    assert faiss.omp_get_max_threads() == 2
