"""Matches a broker would trust: strength, exact terms, roles, asks, the reader's point of
view and the floor under suggestions, on constructed profiles with the real models."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnermatch import presentation
from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.matching import roles, strength
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import explain_pair, recommend
from partnermatch.matching.search import search
from partnermatch.profiles import services as profiles
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters
from partnermatch.review.cohort import suggest_for_cohort
from partnermatch.review.models import Match
from tests.conftest import make_test_app
from tests.factories import make_profile, make_user, profile_input

pytestmark = pytest.mark.postgres


def casting_programme() -> dict[str, Profile]:
    """An SME die-caster, a die-casting competitor, a casting lab, a motor maker, a battery
    lab that alone names IEC 62619, two pack assemblers that both need UN38.3 testing."""
    made = {
        "asker": make_profile(
            name="Rayong Lightcast",
            economy="TH",
            sectors=("metal", "green-vehicles"),
            value_chain=("components", "processing"),
            summary="High-pressure aluminium die casting of brackets and housings, 12 cells.",
            offers="Aluminium high-pressure die casting, CNC finishing and impregnation.",
            needs=(
                "Casting simulation and process know-how to remove porosity from EV motor "
                "housings, and introductions to electric motor makers who buy housings."
            ),
        ),
        "competitor": make_profile(
            name="Penang Diecast Works",
            economy="MY",
            sectors=("metal", "green-vehicles"),
            value_chain=("components", "processing"),
            summary="Aluminium high-pressure die casting of housings and brackets.",
            offers="Aluminium high-pressure die casting, CNC finishing and leak testing.",
            needs="More customers for die-cast housings in Europe.",
        ),
        "lab": make_profile(
            "expert",
            name="Dr. Casting Simulation",
            economy="CA",
            sectors=("metal",),
            value_chain=("r-and-d", "testing"),
            summary="University lab for casting solidification simulation.",
            offers=(
                "Casting process simulation, porosity root-cause analysis and gating design "
                "for aluminium die castings such as motor housings."
            ),
            needs="Industrial casting data from die casters.",
        ),
        "motor_maker": make_profile(
            name="Hanoi E-Motors",
            economy="VN",
            sectors=("green-vehicles",),
            value_chain=("integration",),
            summary="Builds electric traction motors for scooters and small cars.",
            offers="Electric traction motors of 2-20 kW and motor controllers.",
            needs="Suppliers of die-cast aluminium motor housings with low porosity.",
        ),
        "iec_lab": make_profile(
            "expert",
            name="Storage Certification Institute",
            economy="KR",
            sectors=("energy",),
            value_chain=("testing",),
            summary="Testing institute for stationary energy storage.",
            offers="IEC 62619 safety certification of industrial lithium batteries.",
            needs="More SME clients from Southeast Asia.",
        ),
        "un_lab": make_profile(
            "expert",
            name="Busan Battery Safety Lab",
            economy="KR",
            sectors=("green-vehicles",),
            value_chain=("testing",),
            summary="Accredited battery safety laboratory.",
            offers="UN38.3 transport testing and certification of lithium battery packs.",
            needs="Funding for a new abuse-test bunker.",
        ),
        "pack_peer": make_profile(
            name="Cebu Pack Assembly",
            economy="PH",
            sectors=("green-vehicles",),
            value_chain=("integration",),
            summary="Assembles lithium battery packs for e-trikes.",
            offers="Battery pack assembly and BMS integration for e-trikes.",
            needs="A laboratory for UN38.3 transport testing of our lithium battery packs.",
        ),
    }
    get_engine().rebuild()
    return made


@pytest.fixture
def programme(app, db) -> dict[str, Profile]:
    return casting_programme()


def test_an_off_topic_search_shows_no_good_match(programme):
    found = search(
        get_engine(),
        "chocolate cake recipe for a wedding",
        min_strength=strength.GOOD,
        nearest=3,
    )

    assert found.none_strong_enough
    assert [result.strength for result in found.results] == [strength.WEAK] * 3


def test_the_search_page_says_so_when_nothing_is_good(programme, client):
    page = client.get("/search/", query_string={"q": "chocolate cake recipe for a wedding"})

    text = page.get_data(as_text=True)
    assert "No good match for this need" in text
    assert text.count("Weak match") == 3


def test_a_standard_code_finds_the_one_profile_that_names_it(programme):
    found = search(get_engine(), "IEC 62619 certification for our storage batteries", limit=3)

    top = found.results[0]
    assert top.profile.name == "Storage Certification Institute"
    assert "IEC 62619" in top.terms
    assert "Exact terms: IEC 62619" in presentation.search_reasons(top)


def test_a_competitor_with_the_same_positions_ranks_below_a_provider(programme):
    asker = programme["asker"]

    found = search(
        get_engine(),
        "aluminium die casting process know-how for motor housings",
        ProfileFilters(exclude_profiles=(asker.id,)),
        limit=5,
        searcher=asker,
    )

    names = [result.profile.name for result in found.results]
    competitor = next(r for r in found.results if r.profile.name == "Penang Diecast Works")
    assert names.index("Dr. Casting Simulation") < names.index("Penang Diecast Works")
    assert competitor.role == roles.COMPETITOR


def test_a_competitor_is_not_recommended_above_providers_and_customers(programme):
    recommended = recommend(get_engine(), programme["asker"], limit=10, min_strength=strength.WEAK)

    names = [r.profile.name for r in recommended]
    competitor = len(names)
    if "Penang Diecast Works" in names:
        competitor = names.index("Penang Diecast Works")
        assert recommended[competitor].role in (roles.COMPETITOR, roles.PEER)
    assert names.index("Dr. Casting Simulation") < competitor
    assert names.index("Hanoi E-Motors") < competitor


def test_a_profile_with_the_same_need_is_labelled_a_peer(programme):
    found = search(get_engine(), "UN38.3 transport testing for lithium battery packs", limit=3)

    assert found.results[0].profile.name == "Busan Battery Safety Lab"
    peer = next(r for r in found.results if r.profile.name == "Cebu Pack Assembly")
    assert peer.role == roles.PEER
    assert "Peer: has the same need: a peer, not a provider" in presentation.search_reasons(peer)


def test_a_need_that_asks_for_peers_does_not_demote_them(programme):
    def peer_in(query: str):
        found = search(get_engine(), query, limit=5)
        return next(r for r in found.results if r.profile.name == "Cebu Pack Assembly")

    def fused(result) -> float:
        return result.hit.dense + get_engine().fusion.lexical_weight * result.hit.lexical

    plain = peer_in("pack assemblers who also need UN38.3 testing")
    asked = peer_in("co-bidders: pack assemblers who also need UN38.3 testing")

    assert plain.role == asked.role == roles.PEER
    assert plain.score == pytest.approx(fused(plain) - roles.DEMOTION)
    assert asked.score == pytest.approx(fused(asked))


def test_a_two_ask_need_ranks_the_main_ask_partner_first(programme):
    recommended = recommend(get_engine(), programme["asker"], limit=5, min_strength=strength.WEAK)

    lab = next(r for r in recommended if r.profile.name == "Dr. Casting Simulation")
    assert lab.asks[0].startswith("Casting simulation") and len(lab.asks) == 2
    assert lab.answered_ask == 0
    assert recommended[0].profile.name == "Dr. Casting Simulation"


def test_the_explanation_speaks_from_the_readers_point_of_view(programme, client, login_as):
    owner = make_user(Role.SME)
    asker = programme["asker"]
    asker.owner = owner
    db.session.commit()
    [first, *_] = recommend(get_engine(), asker, limit=3, min_strength=strength.WEAK)

    as_owner = presentation.recommendation_reasons(first, reader_profile_id=asker.id)
    as_staff = presentation.recommendation_reasons(first, reader_profile_id=None)

    assert any(reason.startswith("Your needs ↔ their offers") for reason in as_owner)
    assert not any("Your needs" in reason for reason in as_staff)
    assert any(
        reason.startswith(f"Rayong Lightcast's needs ↔ {first.profile.name}'s offers")
        for reason in as_staff
    )
    page = login_as(make_user(Role.COORDINATOR)).get(f"/profiles/{asker.id}")
    assert "Your needs" not in page.get_data(as_text=True)


def test_cohort_suggestions_propose_no_pair_below_the_floor(programme):
    engine = get_engine()
    lonely = make_profile(
        name="Lonely Tea Garden",
        economy="LK",
        sectors=("agri-food",),
        value_chain=("materials",),
        summary="Grows organic tea on a hillside estate.",
        offers="Organic black tea.",
        needs="A buyer for hand-rolled white tea in Scandinavia.",
    )
    engine.rebuild()
    smes = [programme["asker"], programme["pack_peer"], lonely]

    report = suggest_for_cohort(engine, smes, k=3, min_strength=strength.GOOD)
    db.session.commit()

    suggested = db.session.scalars(select(Match)).all()
    assert report.created == len(suggested) > 0
    for match in suggested:
        pair = explain_pair(engine, match.sme, match.partner)
        assert pair is not None and strength.at_least(pair.strength, strength.GOOD)
    assert lonely.id not in {match.sme_profile_id for match in suggested}


def test_the_lexical_leg_follows_an_edit_at_once_and_survives_a_restart(programme, tmp_path):
    lab = programme["lab"]
    query = "part number ZX-4471B"
    assert "ZX-4471B" not in [term for r in search(get_engine(), query).results for term in r.terms]

    profiles.update_profile(
        lab,
        profile_input(
            name=lab.name,
            economy="CA",
            sectors=("metal",),
            value_chain=("r-and-d", "testing"),
            offers="Casting simulation; we validated the gating of part number ZX-4471B.",
        ),
    )
    db.session.commit()

    top = search(get_engine(), query, limit=1).results[0]
    assert (top.profile.id, top.terms) == (lab.id, ["ZX-4471B"])
    with make_test_app(tmp_path).app_context():
        restarted = search(get_engine(), query, limit=1).results[0]
        assert (restarted.profile.id, restarted.terms) == (lab.id, ["ZX-4471B"])
        db.session.remove()
