"""The programme dashboard: its numbers are the database's, and every chart has a CSV."""

from __future__ import annotations

import csv
import io

import pytest

from partnermatch.auth.models import Role
from partnermatch.dashboard import services as dashboard
from partnermatch.extensions import db
from partnermatch.review import services
from partnermatch.review.models import MatchState
from tests.factories import make_profile, make_user


@pytest.fixture
def programme(db):
    coordinator = make_user(Role.COORDINATOR)
    sme_user = make_user(Role.SME)
    sme = make_profile(
        owner=sme_user, economy="VN", needs="We need a distribution partner and testing."
    )
    thai_sme = make_profile(economy="TH", needs="Looking for design and dechnology help.")
    partners = [
        make_profile(
            "expert",
            name=f"Expert {n}",
            economy=economy,
            value_chain=(position,),
            sectors=("metal",),
        )
        for n, (economy, position) in enumerate(
            [("JP", "testing"), ("JP", "design"), ("KR", "r-and-d")]
        )
    ]
    matches = [services.request_introduction(sme_user, partner) for partner in partners]
    services.approve(matches[0], coordinator)
    services.approve(matches[1], coordinator)
    services.respond(matches[0], coordinator, True, side="partner")
    services.respond(matches[0], sme_user, True)
    services.record_outcome(matches[0], sme_user, "partnership_formed")
    services.reject(matches[2], coordinator)
    db.session.commit()
    return {"coordinator": coordinator, "sme": sme, "thai_sme": thai_sme, "matches": matches}


def test_the_funnel_counts_each_stage(programme):
    assert [(stage.label, stage.count) for stage in dashboard.funnel()] == [
        ("Suggested", 3),
        ("Approved", 2),
        ("Accepted by a party", 1),
        ("Introduced", 1),
        ("Partnership formed", 1),
    ]


def test_the_heatmap_counts_pairs_by_economy(programme):
    assert dashboard.economy_pairs("suggested").counts == {("VN", "JP"): 2, ("VN", "KR"): 1}
    assert dashboard.economy_pairs("introduced").counts == {("VN", "JP"): 1}
    assert dashboard.economy_pairs("partnered").counts == {("VN", "JP"): 1}
    assert programme["matches"][0].state is MatchState.PARTNERSHIP_FORMED


def test_value_chain_coverage_shows_needs_against_offers(programme):
    coverage = {item.code: item for item in dashboard.value_chain_coverage()}

    assert (coverage["distribution"].needing, coverage["distribution"].offering) == (1, 0)
    assert coverage["distribution"].gap == 1
    assert (coverage["testing"].needing, coverage["testing"].offering) == (1, 1)
    assert (coverage["design"].needing, coverage["design"].offering) == (1, 1)
    assert coverage["processing"].offering == 2  # the two SMEs' factory default


def test_sector_mix_counts_smes_and_experts(programme):
    metal = next(item for item in dashboard.sector_mix() if item.code == "metal")

    assert (metal.smes, metal.experts) == (2, 3)


def test_a_deleted_profile_and_its_matches_leave_every_count(programme):
    from partnermatch.profiles.services import delete_profile

    delete_profile(programme["matches"][1].partner)  # Expert 1, JP, design, an approved match
    delete_profile(programme["thai_sme"])
    db.session.commit()

    assert [(stage.label, stage.count) for stage in dashboard.funnel()] == [
        ("Suggested", 2),
        ("Approved", 1),
        ("Accepted by a party", 1),
        ("Introduced", 1),
        ("Partnership formed", 1),
    ]
    assert dashboard.economy_pairs("suggested").counts == {("VN", "JP"): 1, ("VN", "KR"): 1}
    coverage = {item.code: item for item in dashboard.value_chain_coverage()}
    assert (coverage["design"].needing, coverage["design"].offering) == (0, 0)
    assert coverage["processing"].offering == 1
    metal = next(item for item in dashboard.sector_mix() if item.code == "metal")
    assert (metal.smes, metal.experts) == (1, 2)
    rows = {(row.factor, row.value): row for row in dashboard.decision_summary()}
    assert rows[("Across economies", "yes")].decided == 2


def test_the_dashboard_page_draws_every_chart_for_staff_only(app, programme, login_as):
    client = login_as(programme["coordinator"])

    page = client.get("/dashboard/").get_data(as_text=True)

    assert page.count("<svg") == 4
    assert "Viet Nam with Japan: 2." in page
    assert "Distribution: 1 SMEs need it, 0 offer it." in page
    assert "Recommendation weights now: the defaults (0 decisions so far" in page
    client.post("/logout")
    assert login_as(make_user(Role.SME)).get("/dashboard/").status_code == 403


def test_decisions_are_summarised_by_factor(programme):
    rows = {(row.factor, row.value): row for row in dashboard.decision_summary()}

    across = rows[("Across economies", "yes")]
    assert (across.decided, across.approved, across.answered, across.accepted) == (3, 2, 1, 1)
    assert across.approval_rate == pytest.approx(2 / 3) and across.acceptance_rate == 1.0
    assert rows[("Score", "no score")].decided == 3  # requests made without an index carry no score


@pytest.mark.parametrize(
    "name",
    ["funnel", "suggested", "introduced", "partnered", "value-chain", "sectors", "decisions"],
)
def test_every_chart_downloads_as_csv(app, programme, login_as, name):
    response = login_as(programme["coordinator"]).get(f"/dashboard/{name}.csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) >= 2


def test_no_download_carries_a_contact_email(app, programme, login_as):
    client = login_as(programme["coordinator"])

    for name in (
        "funnel",
        "suggested",
        "introduced",
        "partnered",
        "value-chain",
        "sectors",
        "decisions",
    ):
        assert "@" not in client.get(f"/dashboard/{name}.csv").get_data(as_text=True)


def test_the_funnel_csv_holds_the_same_numbers(app, programme, login_as):
    body = login_as(programme["coordinator"]).get("/dashboard/funnel.csv").get_data(as_text=True)

    assert list(csv.reader(io.StringIO(body)))[1:] == [
        ["Suggested", "3"],
        ["Approved", "2"],
        ["Accepted by a party", "1"],
        ["Introduced", "1"],
        ["Partnership formed", "1"],
    ]


def test_the_dashboard_title_is_plain_text(app, programme, login_as):
    page = login_as(programme["coordinator"]).get("/dashboard/").get_data(as_text=True)

    assert "<title>Programme dashboard · PartnerMatch</title>" in page
    assert page.count('id="decisions-title"') == 1
