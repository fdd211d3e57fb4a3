"""Recommendations: need against offer, reciprocity, value chain, economies, diversity."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from partnermatch import reference
from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import (
    FactorWeights,
    _KeptRecommendations,
    chain_fit,
    recommend,
)
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import OrganisationInput
from tests.factories import make_profile, make_user

BATTERY_TESTING = (
    "Battery safety testing of lithium cells and packs, with UN38.3 transport certification."
)


def factor(recommendation, label: str) -> float:
    return next(f.contribution for f in recommendation.factors if f.label == label)


def by_name(recommendations, name: str):
    return next(r for r in recommendations if r.profile.name == name)


@pytest.fixture
def scooter_maker(db):
    return make_profile(
        name="Saigon E-Scooters",
        economy="VN",
        organisation=OrganisationInput("Saigon E-Scooters", "sme", "VN"),
        sectors=("green-vehicles",),
        value_chain=("integration",),
        summary="Assembles electric scooters for delivery fleets.",
        offers="Die-cast aluminium battery enclosures and a test fleet of 200 delivery scooters.",
        needs="Independent battery cell testing and transport certification for our packs.",
    )


def test_value_chain_neighbours_complement_and_the_same_position_competes():
    assert chain_fit("components", "integration") == 1.0
    assert chain_fit("components", "components") == 0.2
    assert chain_fit("materials", "components") == 0.6
    assert chain_fit("materials", "after-sales") == 0.3
    assert chain_fit("testing", "integration") == 0.8
    assert chain_fit("design", "testing") == 0.5
    assert chain_fit("r-and-d", "r-and-d") == 0.2
    codes = reference.VALUE_CHAIN_CODES
    assert all(chain_fit(a, b) == chain_fit(b, a) for a in codes for b in codes)


def test_a_two_sided_match_ranks_above_a_one_sided_one(scooter_maker):
    common = {
        "economy": "KR",
        "sectors": ("green-vehicles",),
        "value_chain": ("testing",),
        "offers": BATTERY_TESTING,
    }
    make_profile(
        "expert",
        name="Two-sided Lab",
        needs="A fleet of electric delivery scooters to field-test packs.",
        **common,
    )
    make_profile(
        "expert",
        name="One-sided Lab",
        needs="Funding for a new climate chamber building.",
        **common,
    )
    get_engine().rebuild()

    recommendations = recommend(get_engine(), scooter_maker, limit=2)

    assert [r.profile.name for r in recommendations] == ["Two-sided Lab", "One-sided Lab"]
    two_sided, one_sided = recommendations
    assert factor(two_sided, "Your needs ↔ their offers") == pytest.approx(
        factor(one_sided, "Your needs ↔ their offers")
    )
    assert factor(two_sided, "Two-sided") > factor(one_sided, "Two-sided") + 0.02
    assert any(
        quote.title == "Their needs" and "scooters" in quote.snippet for quote in two_sided.quotes
    )


def test_the_profile_and_its_own_organisation_are_never_recommended(scooter_maker):
    make_profile(
        "expert",
        name="Our Own Test Bench",
        organisation=OrganisationInput("Saigon E-Scooters", "sme", "VN"),
        affiliation="industry",
        offers=BATTERY_TESTING,
    )
    make_profile("expert", name="Outside Lab", economy="KR", offers=BATTERY_TESTING)
    get_engine().rebuild()

    names = [r.profile.name for r in recommend(get_engine(), scooter_maker, limit=10)]

    assert names == ["Outside Lab"]


def test_partners_in_other_economies_get_the_configured_preference(scooter_maker):
    make_profile(
        "expert", name="Hanoi Lab", economy="VN", offers=BATTERY_TESTING, value_chain=("testing",)
    )
    make_profile(
        "expert", name="Seoul Lab", economy="KR", offers=BATTERY_TESTING, value_chain=("testing",)
    )
    get_engine().rebuild()

    preferred = recommend(get_engine(), scooter_maker, limit=2, weights=FactorWeights(across=0.05))
    neutral = recommend(get_engine(), scooter_maker, limit=2, weights=FactorWeights(across=0.0))

    assert preferred[0].profile.name == "Seoul Lab"
    assert factor(by_name(preferred, "Seoul Lab"), "Across economies") == 0.05
    assert factor(by_name(preferred, "Hanoi Lab"), "Across economies") == 0.0
    assert by_name(neutral, "Seoul Lab").score == pytest.approx(
        by_name(neutral, "Hanoi Lab").score, abs=1e-6
    )


def test_one_organisation_does_not_fill_the_list(scooter_maker):
    institute = OrganisationInput("Korea Battery Institute", "research_institute", "KR")
    for number in range(3):
        make_profile(
            "expert",
            name=f"Institute Lab {number}",
            economy="KR",
            organisation=institute,
            affiliation="research",
            offers=BATTERY_TESTING,
        )
    make_profile(
        "expert", name="Independent Lab", economy="JP", offers=BATTERY_TESTING + " Also e-bikes."
    )
    get_engine().rebuild()

    recommendations = recommend(get_engine(), scooter_maker, limit=3)

    names = [r.profile.name for r in recommendations]
    assert "Independent Lab" in names[:2]
    demoted = [r for r in recommendations if any(f.label == "Diversity" for f in r.factors)]
    assert demoted and all(factor(r, "Diversity") < 0 for r in demoted)


def test_the_forums_example_pair_is_recommended_first(demo):
    diecaster = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )

    [first, *_] = recommend(get_engine(), diecaster, limit=5)

    assert first.profile.external_id == "demo-expert-jp-topology-optimisation"
    assert [f.label for f in first.factors] == [
        "Your needs ↔ their offers",
        "Two-sided",
        "Value chain",
        "Across economies",
    ]
    assert first.score == pytest.approx(sum(f.contribution for f in first.factors))
    assert first.quotes[0].title == "Your needs" and first.quotes[0].snippet in diecaster.needs


def test_recommendations_do_not_crowd_one_economy(demo):
    for profile in db.session.scalars(select(Profile).where(Profile.kind == "sme")).all()[:10]:
        economies = [r.profile.economy for r in recommend(get_engine(), profile, limit=5)]
        assert len(set(economies)) >= 3, profile.name


def test_the_profile_page_shows_recommended_partners(demo):
    diecaster = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )

    page = demo.test_client().get(f"/profiles/{diecaster.id}").get_data(as_text=True)

    assert "Recommended partners" in page and "Why this match" in page
    assert "Dr. Haruki Sonobe" in page.split("Recommended partners")[1]
    assert "Similar experts" not in page


def test_coordinators_also_see_similar_experts(demo):
    client = demo.test_client()
    coordinator = db.session.scalar(
        select(Profile.id).where(Profile.external_id == "demo-expert-jp-topology-optimisation")
    )
    client.post(
        "/login",
        data={"email": "coordinator@example.org", "password": demo.config["DEMO_PASSWORD"]},
    )

    page = client.get(f"/profiles/{coordinator}").get_data(as_text=True)

    assert "Similar experts" in page


def test_an_sme_home_page_lists_its_recommendations(demo):
    client = demo.test_client()
    client.post(
        "/login", data={"email": "sme@example.org", "password": demo.config["DEMO_PASSWORD"]}
    )

    page = client.get("/").get_data(as_text=True)

    assert "Recommended partners for Gangshan Lightcast" in page
    assert "Dr. Haruki Sonobe" in page


def test_matches_recommend_command(demo):
    diecaster = db.session.scalar(
        select(Profile.id).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    runner = demo.test_cli_runner()

    text = runner.invoke(args=["matches", "recommend", str(diecaster), "--limit", "3"])
    as_json = runner.invoke(args=["matches", "recommend", str(diecaster), "--limit", "3", "--json"])
    missing = runner.invoke(args=["matches", "recommend", "99999"])

    assert text.exit_code == 0 and "Two-sided" in text.output and "Dr. Haruki Sonobe" in text.output
    payload = json.loads(as_json.output)
    assert payload["results"][0]["external_id"] == "demo-expert-jp-topology-optimisation"
    assert any(reason.startswith("Value chain:") for reason in payload["results"][0]["reasons"])
    assert missing.exit_code == 2 and "there is no profile 99999" in missing.output


def test_recommendations_wait_for_the_index(client, db, login_as):
    user = make_user(Role.SME)
    profile = make_profile(owner=user)
    login_as(user)

    page = client.get(f"/profiles/{profile.id}").get_data(as_text=True)

    assert "Recommendations will appear once the search index is ready" in page


def test_a_profile_viewed_again_is_not_searched_again_until_a_profile_changes(
    scooter_maker, monkeypatch
):
    lab = make_profile(name="Busan Cell Lab", economy="KR", offers=BATTERY_TESTING)
    get_engine().rebuild()
    first = recommend(get_engine(), scooter_maker, limit=5)
    searches = []
    real_search = get_engine().best_passage_pairs
    monkeypatch.setattr(
        get_engine(),
        "best_passage_pairs",
        lambda *args, **kwargs: searches.append(args) or real_search(*args, **kwargs),
    )
    db.session.expire_all()

    again = recommend(get_engine(), scooter_maker, limit=5)

    assert searches == []
    assert [(r.profile.id, r.score, r.factors) for r in again] == [
        (r.profile.id, r.score, r.factors) for r in first
    ]
    assert again[0].profile is db.session.get(Profile, again[0].profile.id)  # this session's

    make_profile(name="Osaka Pack Testing", economy="JP", offers=BATTERY_TESTING)
    after_a_change = recommend(get_engine(), scooter_maker, limit=5)

    assert searches, "a change anywhere moves the index position: computed afresh"
    assert "Osaka Pack Testing" in [r.profile.name for r in after_a_change]
    assert lab.id in [r.profile.id for r in after_a_change]


def test_kept_recommendations_are_bounded_by_their_number_least_recently_used_dropped(
    scooter_maker,
):
    for name in ("Busan Cell Lab", "Osaka Pack Testing"):
        make_profile(name=name, economy="KR", offers=BATTERY_TESTING)
    get_engine().rebuild()
    two = recommend(get_engine(), scooter_maker, limit=2)
    kept = _KeptRecommendations(size=5)

    kept.put("a", two)
    kept.put("b", two)
    assert len(two) == 2 and kept.get("a") is not None  # now the most recently used
    kept.put("c", two)  # 6 > 5: the least recently used list goes

    assert kept.get("b") is None and kept.get("a") is not None and kept.get("c") is not None
