"""Saved searches: saving one from the search page, the list (run, rename, delete), and the
weekly digest over the real engine."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.notifications.models import Notification, OutboxMessage
from partnermatch.profiles.services import ProfileFilters
from partnermatch.saved_searches import services
from partnermatch.saved_searches.models import SavedSearch
from partnermatch.timeutil import utcnow
from tests.factories import make_profile, make_user

BATTERY_NEED = "UN38.3 battery certification for lithium packs"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_a_member_saves_a_search_with_its_filters_and_runs_it_again(app, db, login_as):
    member = make_user(Role.SME)
    client = login_as(member)
    args = {"q": BATTERY_NEED, "sector": ["green-vehicles"], "kind": "expert"}

    form = text(client.get("/saved-searches/new", query_string=args))
    saved = client.post("/saved-searches/new", query_string=args, data={"name": "Battery labs"})

    assert 'value="UN38.3 battery certification for lithium packs"' in form  # name prefilled
    assert saved.status_code == 302
    search = db.session.scalar(select(SavedSearch))
    assert (search.name, search.query) == ("Battery labs", BATTERY_NEED)
    assert search.filters == {"kind": "expert", "sectors": ["green-vehicles"]}
    listing = text(client.get("/saved-searches/"))
    assert "Battery labs" in listing
    assert "/search/?q=UN38.3" in listing and "sector=green-vehicles" in listing


def test_a_search_needs_a_name(app, db, login_as):
    client = login_as(make_user(Role.SME))

    response = client.post("/saved-searches/new", query_string={"q": "casting"}, data={"name": ""})

    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert db.session.scalar(select(SavedSearch)) is None


def test_saved_searches_are_renamed_and_deleted_after_confirmation(app, db, login_as):
    member = make_user(Role.SME)
    saved = services.create(member, "Casting", "die casting", ProfileFilters())
    db.session.commit()
    client = login_as(member)

    client.post(f"/saved-searches/{saved.id}/rename", data={"name": "Die casters"})
    assert db.session.get(SavedSearch, saved.id).name == "Die casters"
    confirm = text(client.get(f"/saved-searches/{saved.id}/delete"))
    assert "Delete the saved search “Die casters”?" in confirm
    assert db.session.get(SavedSearch, saved.id) is not None
    client.post(f"/saved-searches/{saved.id}/delete")
    db.session.expire_all()
    assert db.session.get(SavedSearch, saved.id) is None


def test_an_empty_list_says_how_to_save_a_search(app, db, login_as):
    page = text(login_as(make_user(Role.EXPERT)).get("/saved-searches/"))

    assert "You have no saved searches yet." in page


@pytest.fixture
def programme(app, db):
    """A small indexed programme and a saved search digested eight days ago."""
    member = make_user(Role.SME, locale="zh_Hant")
    make_profile(owner=member, name="Kaohsiung Castings")
    old = make_profile(
        "expert",
        name="Old Battery Lab",
        sectors=("green-vehicles",),
        summary="Lithium battery pack testing and UN38.3 certification.",
        offers="UN38.3 transport tests of lithium battery packs.",
    )
    saved = services.create(member, "Battery labs", BATTERY_NEED, ProfileFilters())
    saved.digested_at = utcnow() - timedelta(days=8)
    old.created_at = old.updated_at = utcnow() - timedelta(days=30)
    db.session.commit()
    db.session.execute(
        db.update(type(old)).where(type(old).id == old.id).values(updated_at=old.created_at)
    )
    db.session.commit()
    new = make_profile(
        name="Busan Battery Test Lab",
        sectors=("green-vehicles",),
        summary="Battery cell testing and UN38.3 certification for e-scooter packs.",
        offers="UN38.3 transport testing of lithium battery packs.",
    )
    make_profile(name="Taichung Die Casting", summary="Die casting of aluminium housings.")
    get_engine().rebuild()
    return {"member": member, "saved": saved, "new": new, "old": old}


def test_the_digest_lists_new_good_matches_in_the_readers_language(programme):
    report = services.send_digests(get_engine())
    db.session.commit()

    assert report == services.DigestReport(searches=1, notified=1)
    note = db.session.scalar(select(Notification))
    assert note.user_id == programme["member"].id
    assert note.message_values["search"] == "Battery labs"
    names = note.message_values["names"]
    assert "Busan Battery Test Lab" in names
    assert "Old Battery Lab" not in names  # unchanged since the last digest
    assert "Taichung Die Casting" not in names  # not a good match
    assert "Kaohsiung Castings" not in names  # the reader's own profile
    assert note.link.startswith("/search/?q=UN38.3")  # in the app, it leads to the search
    email = db.session.scalar(select(OutboxMessage))
    assert email.to_email == programme["member"].email
    assert "符合您儲存的搜尋「Battery labs」" in email.body
    assert "/search/?q=UN38.3" in email.body


def test_the_digest_in_the_app_leads_to_the_search(programme, login_as):
    services.send_digests(get_engine())
    db.session.commit()

    page = text(login_as(programme["member"]).get("/notifications"))

    assert '<a href="/search/?q=UN38.3' in page and "Busan Battery Test Lab" in page


def test_running_the_digest_twice_in_a_week_sends_nothing_new(programme):
    now = utcnow()
    services.send_digests(get_engine(), now=now)
    db.session.commit()

    again = services.send_digests(get_engine(), now=now + timedelta(days=1))
    next_week = services.send_digests(get_engine(), now=now + timedelta(days=7))
    db.session.commit()

    assert again == services.DigestReport(searches=0, notified=0)
    assert next_week == services.DigestReport(searches=1, notified=0)  # nothing changed since
    assert db.session.query(Notification).count() == 1
    assert db.session.query(OutboxMessage).count() == 1


def test_the_digest_command_reports_what_it_sent(programme, app):
    result = app.test_cli_runner().invoke(args=["searches", "send-digests"])

    assert result.exit_code == 0, result.output
    assert "1 saved searches were due; 1 had new good matches" in result.output
    assert db.session.query(OutboxMessage).count() == 1
