"""Shortlists: saving partners from results and profiles, the shortlist page, its API, and
the CSV exports of a shortlist and of a search."""

from __future__ import annotations

import csv
import html
import io

import pytest
from flask import current_app

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.review import services as review
from partnermatch.shortlists import services
from partnermatch.shortlists.models import ShortlistEntry
from tests.factories import make_profile, make_user


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def read_csv(response) -> list[dict[str, str]]:
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")  # the BOM Excel needs to read UTF-8
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.fixture
def people(app, db):
    sme = make_user(Role.SME)
    expert = make_user(Role.EXPERT)
    return {
        "sme": sme,
        "own": make_profile(owner=sme, name="Kaohsiung Castings"),
        "partner": make_profile("expert", owner=expert, name="Hsinchu Lightweight Lab"),
        "expert": expert,
    }


def test_saving_twice_keeps_one_entry_and_removing_takes_it_off(people):
    first = services.add(people["sme"], people["partner"])
    again = services.add(people["sme"], people["partner"])

    assert first.id == again.id
    assert services.saved_ids(people["sme"]) == {people["partner"].id}
    assert services.remove(people["sme"], people["partner"].id) is True
    assert services.remove(people["sme"], people["partner"].id) is False
    assert services.saved_ids(people["sme"]) == set()


def test_ones_own_profile_cannot_be_shortlisted(people):
    with pytest.raises(ValidationError) as error:
        services.add(people["sme"], people["own"])

    assert error.value.field == "profile_id"


def test_a_member_saves_a_partner_from_its_page_and_sees_it_on_the_shortlist(people, login_as):
    client = login_as(people["sme"])
    page = text(client.get(f"/profiles/{people['partner'].id}"))
    assert "Save to shortlist" in page

    response = client.post(
        f"/shortlist/{people['partner'].id}", data={"next": f"/profiles/{people['partner'].id}"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/profiles/{people['partner'].id}"
    assert "Saved ✓ Remove" in text(client.get(f"/profiles/{people['partner'].id}"))
    shortlist = text(client.get("/shortlist/"))
    assert "Hsinchu Lightweight Lab" in shortlist
    assert "Ask for an introduction" in shortlist


def test_the_shortlist_shows_the_state_of_a_requested_introduction(people, login_as):
    services.add(people["sme"], people["partner"])
    review.request_introduction(people["sme"], people["partner"])
    db.session.commit()

    page = text(login_as(people["sme"]).get("/shortlist/"))

    assert "Requested, waiting for review" in page
    assert "Ask for an introduction" not in page


def test_a_member_asks_for_an_introduction_from_the_shortlist(people, login_as):
    services.add(people["sme"], people["partner"])
    db.session.commit()
    client = login_as(people["sme"])
    ask = f"/profiles/{people['partner'].id}/introduction"

    assert f'href="{ask}"' in text(client.get("/shortlist/"))
    asked = client.post(ask, data={"note": "Lighter housings for e-scooters."})

    assert asked.status_code == 302
    page = text(client.get("/shortlist/"))
    assert "Requested, waiting for review" in page and f'href="{ask}"' not in page


def test_members_reach_their_shortlist_and_saved_searches_from_the_header(people, login_as):
    member = login_as(people["sme"])
    shortlist = text(member.get("/shortlist/"))
    searches = text(member.get("/saved-searches/"))

    header = shortlist.split("</nav>")[0]
    assert 'href="/shortlist/" aria-current="page">Saved</a>' in header
    assert 'href="/saved-searches/"' in shortlist.split('class="tabs"')[1]
    assert 'href="/shortlist/" aria-current="page">Saved</a>' in searches.split("</nav>")[0]


def test_staff_get_no_shortlist_buttons_nor_header_link(people, login_as):
    page = text(login_as(make_user(Role.COORDINATOR)).get(f"/profiles/{people['partner'].id}"))

    assert 'href="/shortlist/"' not in page and "Save to shortlist" not in page


def test_removing_from_the_shortlist_offers_undo(people, login_as):
    services.add(people["sme"], people["partner"])
    db.session.commit()
    client = login_as(people["sme"])

    removed = client.post(f"/shortlist/{people['partner'].id}/remove", data={"from": "shortlist"})
    page = text(client.get(removed.headers["Location"]))
    assert "Removed Hsinchu Lightweight Lab from your shortlist." in page and "Undo" in page
    assert db.session.query(ShortlistEntry).count() == 0

    client.post(f"/shortlist/{people['partner'].id}", data={"next": "/shortlist/"})
    assert services.saved_ids(people["sme"]) == {people["partner"].id}


def test_an_empty_shortlist_says_how_to_add(people, login_as):
    page = text(login_as(people["sme"]).get("/shortlist/"))

    assert "Your shortlist is empty." in page and "Save to shortlist" in page


def test_an_unsafe_next_address_is_not_followed(people, login_as):
    response = login_as(people["sme"]).post(
        f"/shortlist/{people['partner'].id}", data={"next": "https://evil.example/"}
    )

    assert response.headers["Location"] == f"/profiles/{people['partner'].id}"


def test_saving_needs_the_csrf_token(tmp_path, people):
    from tests.conftest import make_test_app

    app = make_test_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        user = make_user(Role.SME)
        partner = make_profile("expert")
        client = app.test_client()
        client.post("/login", data={"email": user.email, "password": "correct horse battery"})

        response = client.post(f"/shortlist/{partner.id}")

        assert response.status_code == 400
        assert services.saved_ids(user) == set()
        db.session.remove()
        db.engine.dispose()


def test_the_api_lists_adds_and_removes_shortlist_entries(people):
    _token, secret = create_token(people["sme"], "tests")
    db.session.commit()
    client = current_app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    added = client.post(
        "/api/v1/shortlist", json={"profile_id": people["partner"].id}, headers=headers
    )
    listed = client.get("/api/v1/shortlist", headers=headers).get_json()
    own = client.post("/api/v1/shortlist", json={"profile_id": people["own"].id}, headers=headers)
    bad = client.post("/api/v1/shortlist", json={"profile_id": "x"}, headers=headers)
    missing = client.post("/api/v1/shortlist", json={"profile_id": 999999}, headers=headers)
    removed = client.delete(f"/api/v1/shortlist/{people['partner'].id}", headers=headers)
    removed_again = client.delete(f"/api/v1/shortlist/{people['partner'].id}", headers=headers)

    assert added.status_code == 201 and added.get_json()["name"] == "Hsinchu Lightweight Lab"
    assert [entry["profile_id"] for entry in listed["entries"]] == [people["partner"].id]
    assert own.status_code == 422 and own.get_json()["error"]["field"] == "profile_id"
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "profile_id"
    assert missing.status_code == 404
    assert removed.status_code == 204 and removed_again.status_code == 404


# --- CSV ---------------------------------------------------------------------------------------


def test_cells_that_start_a_formula_are_defused():
    assert services.safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert services.safe_cell("+1") == "'+1"
    assert services.safe_cell("-2") == "'-2"
    assert services.safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert services.safe_cell("Ltda. 3D") == "Ltda. 3D"


def test_csv_filenames_are_safe():
    assert services.csv_filename('search-"die casting"/../x') == "search-die-casting-x.csv"
    assert services.csv_filename("中文") == "partnermatch.csv"


def test_the_shortlist_export_has_its_columns_and_no_contact_before_an_introduction(
    people, login_as
):
    tricky = make_profile("expert", name="=cmd|' /C calc'!A0", contact_email="x@example.org")
    services.add(people["sme"], people["partner"])
    services.add(people["sme"], tricky)
    db.session.commit()

    response = login_as(people["sme"]).get("/shortlist/export.csv")

    assert response.mimetype == "text/csv"
    assert 'filename="partnermatch-shortlist.csv"' in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0]) == list(services.CSV_COLUMNS)
    by_url = {row["profile_url"]: row for row in rows}
    partner = by_url[f"http://localhost/profiles/{people['partner'].id}"]
    assert partner["name"] == "Hsinchu Lightweight Lab"
    assert partner["kind"] == "expert" and partner["sectors"] == "metal"
    assert partner["contact_email"] == ""
    assert by_url[f"http://localhost/profiles/{tricky.id}"]["name"].startswith("'=")


def test_an_introduced_pair_and_coordinators_see_contacts_in_exports(people, login_as):
    coordinator = make_user(Role.COORDINATOR)
    match = review.request_introduction(people["sme"], people["partner"])
    review.approve(match, coordinator)
    review.respond(match, people["sme"], True)
    db.session.commit()
    rows = [services.ExportRow(people["partner"])]
    url = lambda profile: f"/profiles/{profile.id}"  # noqa: E731

    def contact(user) -> str:
        exported = services.export_csv(rows, user, url).removeprefix("\ufeff")
        return next(csv.DictReader(io.StringIO(exported)))["contact_email"]

    assert contact(people["sme"]) == ""  # the partner has not accepted yet
    assert contact(coordinator) == "private-contact@example.org"
    review.respond(match, people["expert"], True)
    db.session.commit()
    assert contact(people["sme"]) == "private-contact@example.org"
    assert contact(make_user(Role.SME)) == ""


def test_a_search_is_exported_with_the_same_query_and_filters(app, db, login_as):
    member = make_user(Role.SME)
    make_profile(
        name="Busan Battery Test Lab",
        sectors=("green-vehicles",),
        summary="Battery cell testing and UN38.3 certification for e-scooter packs.",
        offers="UN38.3 transport testing of lithium battery packs.",
    )
    make_profile(name="Taichung Die Casting", sectors=("metal",))
    get_engine().rebuild()
    client = login_as(member)
    query = {"q": "UN38.3 battery certification for lithium packs", "weaker": "y"}

    page = text(client.get("/search/", query_string=query))
    everything = read_csv(client.get("/search/export.csv", query_string=query))
    filtered = read_csv(client.get("/search/export.csv", query_string={**query, "sector": "metal"}))

    assert "Download CSV" in page and "Save to shortlist" in page
    assert everything[0]["name"] == "Busan Battery Test Lab"
    assert float(everything[0]["score"]) > 0
    assert {row["name"] for row in filtered} <= {"Taichung Die Casting"}
    assert all(row["contact_email"] == "" for row in everything)


def test_a_search_export_without_an_index_goes_back_to_the_search_page(people, login_as):
    response = login_as(people["sme"]).get("/search/export.csv", query_string={"q": "casting"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/search/?q=casting"
