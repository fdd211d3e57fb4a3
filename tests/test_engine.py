"""The engine's own rules, with a deterministic encoder and an in-memory programme."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from partnermatch.matching import engine as engine_module
from partnermatch.matching.engine import IndexUnavailable, MatchingEngine
from partnermatch.matching.retrieval import HybridRetriever
from tests.engine_fakes import HashingEmbedder, InMemorySource, evidence, fake_profile


@pytest.fixture
def programme(tmp_path):
    source = InMemorySource()
    source.save(fake_profile(1, name="Andes Copper Foundry", offers="Sand casting of bronze."))
    source.save(fake_profile(2, name="Dr. Rice", offers="Soil moisture sensing for paddies."))
    engine = MatchingEngine(tmp_path / "index", HashingEmbedder(), source=source)
    engine.rebuild()
    return engine, source


def names(engine: MatchingEngine, query: str) -> list[int]:
    return [hit.profile_id for hit in engine.search(query, limit=10).hits]


def test_a_search_without_an_index_says_what_to_do(tmp_path):
    engine = MatchingEngine(tmp_path / "index", HashingEmbedder(), source=InMemorySource())

    with pytest.raises(IndexUnavailable, match="index rebuild"):
        engine.search("anything")


def test_an_exact_term_is_found_by_the_lexical_leg_at_once(programme):
    engine, source = programme
    source.change(2, offers="We validated the gating of part number ZX-4471B.")

    [first, *_] = engine.search("ZX-4471B").hits

    assert first.profile_id == 2 and first.lexical > 0.5


def test_the_lexical_leg_survives_a_restart(programme, tmp_path):
    engine, source = programme
    source.change(1, offers="Bronze castings to drawing DIN-1705 and ZX-9000.")
    engine.search("warm")  # this process applies the change

    restarted = MatchingEngine(tmp_path / "index", HashingEmbedder(), source=source)

    [first, *_] = restarted.search("ZX-9000").hits
    assert first.profile_id == 1 and first.lexical > 0.5


def test_a_deleted_profile_leaves_both_legs(programme):
    engine, source = programme
    source.delete(1)

    assert 1 not in names(engine, "bronze sand casting")


def test_a_search_encodes_no_more_than_its_budget_and_a_job_does_the_rest(programme, monkeypatch):
    engine, source = programme
    monkeypatch.setattr(engine_module, "SYNC_ENCODE_PASSAGES", 4)
    items = [
        evidence(number, f"Irrigation trial {number}", f"Trial in field {number}.")
        for number in range(10)
    ]
    source.save(
        fake_profile(3, name="Mekong Water Lab", offers="Paddy irrigation.", evidence=items)
    )
    source.change(1, offers="Sand casting of bronze and brass.")  # one passage: within budget
    before = len(engine.embedder.encoded)

    found = names(engine, "paddy irrigation trials")

    assert len(engine.embedder.encoded) - before <= 4
    assert 3 not in found and engine.catching_up == 1
    assert engine.status().catching_up == 1 and engine.status().stale

    assert engine.encode_pending() == 1
    assert 3 in names(engine, "paddy irrigation trials") and engine.catching_up == 0


def test_an_edited_profile_waiting_to_be_encoded_is_served_as_it_was(programme, monkeypatch):
    engine, source = programme
    monkeypatch.setattr(engine_module, "SYNC_ENCODE_PASSAGES", 1)
    items = [evidence(number, f"Copper note {number}", f"Alloy {number}.") for number in range(5)]
    source.change(1, evidence=items)

    assert 1 in names(engine, "bronze sand casting")
    assert engine.catching_up == 1


def best_pairs_one_hit_at_a_time(found):
    """The rule, read hit by hit: each (profile, query)'s highest score, the first on ties."""
    best = {}
    for leg, scores, ids in found:
        for row, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
            query = leg.positions[row] if leg.positions is not None else row
            for score, vector_id in zip(row_scores, row_ids, strict=True):
                if vector_id < 0:
                    break
                profile, position = divmod(int(vector_id), engine_module.MAX_PASSAGES)
                if (profile, query) not in best or score > best[(profile, query)][0]:
                    best[(profile, query)] = (float(score), position)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_the_best_pair_of_each_profile_and_query_is_the_highest_hit_first_on_ties(seed):
    rng = np.random.default_rng(seed)
    found = []
    for positions in (None, (2, 0), (1,)):
        rows = 3 if positions is None else len(positions)
        profiles = rng.integers(1, 6, size=(rows, 12))
        ids = profiles * engine_module.MAX_PASSAGES + rng.integers(0, 4, size=(rows, 12))
        ids[:, 9:] = -1  # a short row, padded as FAISS pads it
        scores = rng.choice([0.2, 0.5, 0.5, 0.9], size=(rows, 12)).astype(np.float32)
        found.append((SimpleNamespace(positions=positions), scores, ids))

    best = engine_module._best_per_profile_and_query(found)

    assert best == best_pairs_one_hit_at_a_time(found)


def test_a_forked_process_encodes_beside_on_a_thread_of_its_own():
    encoder = SimpleNamespace(embedder=HashingEmbedder(), multilingual=HashingEmbedder())
    retriever = HybridRetriever(encoder)  # type: ignore[arg-type]
    assert retriever.beside.submit(lambda: "parent").result(timeout=5) == "parent"

    child = os.fork()
    if child == 0:  # the child: its inherited executor's thread did not come along
        try:
            answer = retriever.beside.submit(lambda: "child").result(timeout=5)
            os._exit(0 if answer == "child" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(child, 0)

    assert os.waitstatus_to_exitcode(status) == 0
