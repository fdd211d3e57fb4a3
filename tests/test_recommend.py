"""Recommendations: need against offer, reciprocity, value chain, economies, diversity."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select

from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from partnermatch.matching import strength
from partnermatch.matching.extension import get_engine
from partnermatch.matching.kept import KeptResults
from partnermatch.matching.passages import PassageSource
from partnermatch.matching.recommend import ASKER, PARTNER, FactorWeights, recommend
from partnermatch.matching.roles import chain_fit
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import OrganisationInput
from tests.factories import make_profile, make_user

BATTERY_TESTING = (
    "Battery safety testing of lithium cells and packs, with UN38.3 transport certification."
)


def factor(recommendation, feature: str) -> float:
    return next(f.contribution for f in recommendation.factors if f.feature == feature)


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


@pytest.mark.parametrize(
    ("asker", "partner", "fit"),
    [
        (["processing"], ["components"], 1.0),  # the next step on the chain
        (["components", "processing"], ["integration"], 1.0),
        (["materials"], ["components"], 0.5),  # two steps away
        (["materials"], ["after-sales"], 0.2),
        (["integration"], ["testing"], 0.8),  # a support function serves the chain
        (["testing"], ["integration"], 0.6),  # a lab's customer
        (["design"], ["testing"], 0.4),
        (["components"], ["components", "integration"], pytest.approx(0.7)),  # half shared
        (["components", "processing"], ["components", "processing"], 0.0),  # a competitor
        (["r-and-d"], ["r-and-d"], 0.0),
        ([], ["components"], 0.0),
    ],
)
def test_value_chain_fit_rewards_bordering_positions_and_penalises_overlap(asker, partner, fit):
    assert chain_fit(asker, partner).value == fit


def test_a_position_the_need_asks_for_fits_even_when_it_is_ones_own():
    found = chain_fit(["distribution"], ["distribution"], asked_positions=["distribution"])

    assert found.value == 1.0 and found.values == {"their_position": "distribution"}


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
    assert factor(two_sided, "need") == pytest.approx(factor(one_sided, "need"))
    assert factor(two_sided, "mutual") > factor(one_sided, "mutual") + 0.02
    assert any(
        (quote.whose, quote.source) == (PARTNER, PassageSource.NEEDS)
        and "scooters" in quote.snippet
        for quote in two_sided.quotes
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


def test_among_restricts_the_candidates_to_those_profiles(scooter_maker):
    """An event's recommended meetings: only its participants are candidates, even when a
    better partner exists outside the event."""
    make_profile("expert", name="Best Lab, not at the event", economy="KR", offers=BATTERY_TESTING)
    at_event = make_profile(
        "expert", name="Lab at the event", economy="JP", offers="Battery cell testing services."
    )
    get_engine().rebuild()

    everyone = [r.profile.name for r in recommend(get_engine(), scooter_maker, limit=5)]
    among = recommend(get_engine(), scooter_maker, limit=5, among=[at_event.id])

    assert "Best Lab, not at the event" in everyone
    assert [r.profile.name for r in among] == ["Lab at the event"]


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
    assert factor(by_name(preferred, "Seoul Lab"), "across") == 0.05
    assert factor(by_name(preferred, "Hanoi Lab"), "across") == 0.0
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
    demoted = [r for r in recommendations if r.factor("diversity") is not None]
    assert demoted and all(factor(r, "diversity") < 0 for r in demoted)


def test_the_forums_example_pair_is_recommended_first(demo):
    diecaster = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )

    [first, *_] = recommend(get_engine(), diecaster, limit=5)

    assert first.profile.external_id == "demo-expert-jp-topology-optimisation"
    assert [f.feature for f in first.factors] == ["need", "mutual", "chain", "across"]
    assert first.score == pytest.approx(sum(f.contribution for f in first.factors))
    assert first.quotes[0].whose == ASKER and first.quotes[0].snippet in diecaster.needs
    assert strength.at_least(first.strength, strength.GOOD)


def test_recommendations_do_not_crowd_one_economy(demo):
    for profile in db.session.scalars(select(Profile).where(Profile.kind == "sme")).all()[:10]:
        economies = [r.profile.economy for r in recommend(get_engine(), profile, limit=5)]
        assert len(set(economies)) >= min(3, len(economies)), profile.name


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
    assert "Your needs" not in text.output  # the command line reads as a third party
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
    two = recommend(get_engine(), scooter_maker, limit=2, min_strength=strength.WEAK)
    kept = KeptResults(size=5)

    kept.put("a", two)
    kept.put("b", two)
    assert len(two) == 2 and kept.get("a") is not None  # now the most recently used
    kept.put("c", two)  # 6 > 5: the least recently used list goes

    assert kept.get("b") is None and kept.get("a") is not None and kept.get("c") is not None


def test_after_asking_the_partner_shows_the_match_state_and_is_no_longer_recommended(demo):
    from partnermatch.review import services as review
    from partnermatch.review.models import Match

    diecaster = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    sonobe = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-expert-jp-topology-optimisation")
    )
    client = demo.test_client()
    client.post(
        "/login", data={"email": diecaster.owner.email, "password": demo.config["DEMO_PASSWORD"]}
    )

    def header(page: str) -> str:
        return page.split('id="recommended-title"')[0]  # not the partners recommended to it

    before = client.get(f"/profiles/{sonobe.id}").get_data(as_text=True)
    assert "Ask for an introduction" in header(before)
    match = review.request_introduction(diecaster.owner, sonobe)
    db.session.commit()
    try:
        page = header(client.get(f"/profiles/{sonobe.id}").get_data(as_text=True))
        assert "Requested, waiting for review" in page and "Ask for an introduction" not in page
        assert f'href="/matches/{match.id}"' in page

        home = client.get("/").get_data(as_text=True)
        recommended = home.split('id="for-you-title"')[1]
        assert "Recommended partners" in home and sonobe.name not in recommended
        # It is on the home page once, under way, with the request's stage.
        under_way = home.split('id="in-progress-title"')[1].split("</section>")[0]
        assert sonobe.name in under_way and "Requested, waiting for review" in under_way

        found = client.get("/search/", query_string={"q": sonobe.summary, "weaker": "y"})
        cards = found.get_data(as_text=True).split('class="profile-card result"')[1:]
        [card] = [card for card in cards if f'href="/profiles/{sonobe.id}"' in card]
        assert "Requested, waiting for review" in card

        review.approve(match, db.session.scalar(select(User).where(User.role == Role.ADMIN)))
        db.session.commit()
        page = client.get(f"/profiles/{sonobe.id}").get_data(as_text=True)
        assert "Waiting for your answer" in page
    finally:
        db.session.execute(delete(Match))
        db.session.commit()
