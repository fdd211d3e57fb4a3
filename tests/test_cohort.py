"""Cohort suggestions: one assignment for many SMEs, within capacities, never repeating a pair."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import select

from partnermatch.extensions import db
from partnermatch.review.models import Match, MatchOrigin, MatchState

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def suggested() -> list[Match]:
    """The suggestions waiting for review (the demo's past forum holds older ones, met since)."""
    return list(
        db.session.scalars(
            select(Match).where(
                Match.origin == MatchOrigin.SUGGESTED, Match.state == MatchState.SUGGESTED
            )
        )
    )


def test_a_cohort_gets_suggestions_within_capacities(demo):
    runner = demo.test_cli_runner()

    result = runner.invoke(
        args=["matches", "suggest", "--sector", "green-vehicles", "--k", "2", "--capacity", "1"]
    )

    assert result.exit_code == 0, result.output
    matches = suggested()
    assert matches and f"{len(matches)} suggestions for" in result.output
    assert "unconstrained top-2" in result.output and "greedy" in result.output
    assert all(m.state is MatchState.SUGGESTED and m.factors for m in matches)
    assert max(Counter(m.sme_profile_id for m in matches).values()) <= 2
    assert max(Counter(m.partner_profile_id for m in matches).values()) == 1
    assert all("green-vehicles" in m.sme.sectors and m.sme.kind.value == "sme" for m in matches)
    for sme_id, count in Counter(m.sme_profile_id for m in matches).items():
        mine = [m for m in matches if m.sme_profile_id == sme_id]
        across = sum(m.partner.economy != m.sme.economy for m in mine)
        assert across * 2 >= count  # at least half across economies, by default

    again = runner.invoke(
        args=["matches", "suggest", "--sector", "green-vehicles", "--k", "2", "--capacity", "2"]
    )

    pairs = [(m.sme_profile_id, m.partner_profile_id) for m in suggested()]
    assert again.exit_code == 0 and len(pairs) == len(set(pairs))  # no pair suggested twice
    load = Counter(m.partner_profile_id for m in suggested())
    assert max(load.values()) <= 2  # earlier open suggestions count against the capacity
    for match in suggested():
        db.session.delete(match)
    db.session.commit()


def test_an_empty_cohort_is_explained(demo):
    result = demo.test_cli_runner().invoke(args=["matches", "suggest", "--sme", "999999"])

    assert result.exit_code == 1 and "No SME profile is in this cohort" in result.output


def test_a_partners_own_capacity_overrides_the_programme_default(app, db):
    from partnermatch.matching.extension import get_engine
    from partnermatch.profiles.services import ProfileFilters
    from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
    from tests.factories import make_profile

    for economy in ("VN", "TH", "PH"):
        make_profile(name=f"Scooters {economy}", economy=economy, needs="Battery safety testing.")
    busy = make_profile("expert", name="Busy Lab", economy="KR", offers="Battery safety testing.")
    make_profile(
        "expert", name="Free Lab", economy="JP", offers="Battery safety testing and packs."
    )
    busy.introduction_capacity = 0
    db.session.commit()
    get_engine().rebuild()

    report = suggest_for_cohort(get_engine(), cohort_smes(ProfileFilters()), k=1, capacity=5)

    partners = {match.partner.name for match in suggested()}
    assert report.created == 3 and partners == {"Free Lab"}


def test_the_profile_form_sets_and_checks_the_capacity(app, db, login_as):
    from partnermatch.auth.models import Role
    from partnermatch.profiles.models import Profile
    from tests.factories import make_profile, make_user

    user = make_user(Role.EXPERT)
    profile = make_profile("expert", owner=user)
    client = login_as(user)
    form = {
        "name": profile.name,
        "organisation_name": "",
        "organisation_kind": "university",
        "affiliation": "academia",
        "economy": "JP",
        "sectors": ["metal"],
        "value_chain": ["r-and-d"],
    }

    refused = client.post(
        f"/profiles/{profile.id}/edit", data={**form, "introduction_capacity": "500"}
    )
    client.post(f"/profiles/{profile.id}/edit", data={**form, "introduction_capacity": "2"})

    assert "Give a whole number from 0 to 100." in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).introduction_capacity == 2


def _labelled_competitor(name: str, monkeypatch) -> None:
    """Make the recommender label the partner called `name` a competitor of every SME."""
    from partnermatch.matching import roles
    from partnermatch.review import cohort

    real = cohort.recommend

    def recommend(*args, **kwargs):
        return [
            replace(rec, role=roles.COMPETITOR) if rec.profile.name == name else rec
            for rec in real(*args, **kwargs)
        ]

    monkeypatch.setattr(cohort, "recommend", recommend)


@pytest.mark.parametrize(
    ("needs", "proposed"),
    [
        ("Battery safety testing.", {"Rival Lab"}),
        ("A second source for battery safety testing.", {"Rival Lab", "Free Lab"}),
    ],
)
def test_a_competitor_is_proposed_only_when_the_needs_ask_for_one(
    app, db, monkeypatch, needs, proposed
):
    from partnermatch.matching.extension import get_engine
    from partnermatch.profiles.services import ProfileFilters
    from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
    from tests.factories import make_profile

    make_profile(name="Scooters VN", economy="VN", needs=needs)
    make_profile("expert", name="Free Lab", economy="JP", offers="Battery safety testing.")
    make_profile("expert", name="Rival Lab", economy="KR", offers="Battery safety testing.")
    db.session.commit()
    get_engine().rebuild()
    _labelled_competitor("Free Lab", monkeypatch)

    suggest_for_cohort(get_engine(), cohort_smes(ProfileFilters()), k=2, cross_share=None)

    assert {match.partner.name for match in suggested()} == proposed
