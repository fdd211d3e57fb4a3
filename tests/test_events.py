"""Brokerage events: coordinators create and edit them, pages list them and their people."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from partnermatch.auth.models import Role
from partnermatch.events import services
from partnermatch.events.models import Event, Pairing, Participant
from partnermatch.events.services import SessionInput
from partnermatch.extensions import db
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def event_form(**fields):
    data = {
        "name": "Kaohsiung Forum",
        "venue": "Kaohsiung Exhibition Center",
        "timezone": "Asia/Taipei",
        "meeting_minutes": "20",
        "tables": "25",
        "sessions": "2027-03-10 09:00-12:00\n2027-03-10 13:30-17:00\n2027-03-11 09:00-12:00",
        "requests_open": "2027-02-01T09:00",
        "requests_close": "2027-03-09T18:00",
        "pairing": "sme_expert",
        "review_requests": "y",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def coordinator_client(db, login_as):
    return login_as(make_user(Role.COORDINATOR))


def test_sessions_are_read_one_a_line_and_sorted():
    sessions = services.parse_sessions("2027-03-11 09:00-12:00\n\n 2027-03-10 9:00 - 12:00 ")

    assert sessions == [
        SessionInput(date(2027, 3, 10), time(9), time(12)),
        SessionInput(date(2027, 3, 11), time(9), time(12)),
    ]


@pytest.mark.parametrize(
    "line", ["2027-03-10", "2027-02-30 09:00-10:00", "2027-03-10 12:00-09:00", "tomorrow"]
)
def test_a_session_line_that_is_not_a_day_and_times_is_refused(line):
    with pytest.raises(services.SessionSyntaxError) as raised:
        services.parse_sessions(f"2027-03-10 08:00-09:00\n{line}")

    assert raised.value.line_number == 2


def test_sessions_of_one_day_that_overlap_are_found_and_touching_ones_are_not():
    morning = SessionInput(date(2027, 3, 10), time(9), time(12))
    lunch_overlap = SessionInput(date(2027, 3, 10), time(11, 30), time(13))
    afternoon = SessionInput(date(2027, 3, 10), time(12), time(15))
    next_day = SessionInput(date(2027, 3, 11), time(9), time(12))

    assert services.overlapping([morning, afternoon, next_day]) == []
    assert services.overlapping([afternoon, lunch_overlap, morning]) == [
        (morning, lunch_overlap),
        (lunch_overlap, afternoon),
    ]


def test_a_coordinator_creates_an_event_with_sessions_and_windows_in_its_time_zone(
    coordinator_client,
):
    response = coordinator_client.post("/events/new", data=event_form())

    assert response.status_code == 302
    event = db.session.scalars(db.select(Event)).one()
    assert (event.name, event.meeting_minutes, event.tables) == ("Kaohsiung Forum", 20, 25)
    assert event.pairing is Pairing.SME_EXPERT and event.review_requests
    assert [(s.day, s.start, s.end) for s in event.sessions] == [
        (date(2027, 3, 10), time(9), time(12)),
        (date(2027, 3, 10), time(13, 30), time(17)),
        (date(2027, 3, 11), time(9), time(12)),
    ]
    # 09:00 in Taipei (UTC+8) is 01:00 UTC.
    opens = services.to_local(event.requests_open, "UTC")
    assert opens == datetime(2027, 2, 1, 1, 0, tzinfo=UTC)
    page = coordinator_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Kaohsiung Forum" in page and "Nobody has registered yet." in page


def test_overlapping_sessions_are_refused_with_a_message_and_the_form_keeps_its_input(
    coordinator_client,
):
    sessions = "2027-03-10 09:00-12:00\n2027-03-10 11:00-13:00"
    response = coordinator_client.post("/events/new", data=event_form(sessions=sessions))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2027-03-10 09:00-12:00 and 2027-03-10 11:00-13:00 overlap" in page
    assert "Kaohsiung Exhibition Center" in page
    assert db.session.scalars(db.select(Event)).all() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "not a time zone name we know"),
        ("meeting_minutes", "25", "Not a valid choice"),
        ("sessions", "", "This field is required"),
        ("requests_close", "2027-01-01T09:00", "must close after they open"),
    ],
)
def test_bad_event_input_is_refused_on_its_field(coordinator_client, field, value, message):
    response = coordinator_client.post("/events/new", data=event_form(**{field: value}))

    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalars(db.select(Event)).all() == []


def test_editing_keeps_the_sessions_that_stay_and_their_attendees(coordinator_client):
    coordinator_client.post("/events/new", data=event_form())
    event = db.session.scalars(db.select(Event)).one()
    kept = event.sessions[0]
    participant = Participant(event=event, profile=make_profile(), sessions=[kept])
    db.session.add(participant)
    db.session.commit()

    form_page = coordinator_client.get(f"/events/{event.id}/edit").get_data(as_text=True)
    assert "2027-03-10 13:30-17:00" in form_page and 'value="2027-02-01T09:00"' in form_page
    response = coordinator_client.post(
        f"/events/{event.id}/edit",
        data=event_form(name="Forum, renamed", sessions="2027-03-10 09:00-12:00"),
    )

    assert response.status_code == 302
    db.session.expire_all()
    assert event.name == "Forum, renamed"
    assert [s.id for s in event.sessions] == [kept.id]
    assert [s.id for s in db.session.get(Participant, participant.id).sessions] == [kept.id]


def test_the_events_page_lists_upcoming_and_past_events(client, db):
    for name, day in (("Old fair", "2020-05-01"), ("Next forum", "2999-05-01")):
        services.save_event(
            services.EventInput(
                name, "", "Asia/Taipei", 20, 5, services.parse_sessions(f"{day} 09:00-12:00")
            )
        )
    db.session.commit()

    upcoming, past = services.upcoming_and_past()
    page = client.get("/events/").get_data(as_text=True)

    assert [e.name for e in upcoming] == ["Next forum"]
    assert [e.name for e in past] == ["Old fair"]
    assert page.index("Next forum") < page.index("Past events") < page.index("Old fair")


def test_the_event_page_lists_its_participants(client, db):
    event = services.save_event(
        services.EventInput(
            "Forum", "", "Asia/Taipei", 20, 5, services.parse_sessions("2999-05-01 09:00-12:00")
        )
    )
    db.session.add(Participant(event=event, profile=make_profile(name="Kaohsiung Castings")))
    db.session.commit()

    page = client.get(f"/events/{event.id}").get_data(as_text=True)

    assert "Kaohsiung Castings" in page


@pytest.fixture
def forum_with_participants(db):
    """Three participants (a Japanese testing lab, a Vietnamese SME, a Korean expert) and a
    profile that is not registered."""
    event = services.save_event(
        services.EventInput(
            "Forum", "", "Asia/Taipei", 20, 5, services.parse_sessions("2999-05-01 09:00-12:00")
        )
    )
    for kind, name, economy, position, sector in (
        ("expert", "Osaka Testing Lab", "JP", "testing", "metal"),
        ("sme", "Hanoi Castings", "VN", "processing", "metal"),
        ("expert", "Seoul Design Studio", "KR", "design", "electronics"),
    ):
        profile = make_profile(
            kind, name=name, economy=economy, value_chain=(position,), sectors=(sector,)
        )
        db.session.add(Participant(event=event, profile=profile))
    make_profile("expert", name="Not Registered Lab", economy="JP", value_chain=("testing",))
    db.session.commit()
    return event


def participant_names(page: str) -> list[str]:
    names = ("Osaka Testing Lab", "Hanoi Castings", "Seoul Design Studio", "Not Registered Lab")
    listing = page[page.index('id="participants-title"') :]
    listing = listing[listing.index('class="results"') :]
    return [name for name in names if name in listing]


def test_the_participants_filter_by_the_profile_browsers_facets(client, forum_with_participants):
    url = f"/events/{forum_with_participants.id}"

    by_economy = client.get(f"{url}?economy=JP").get_data(as_text=True)
    by_position = client.get(f"{url}?value_chain=processing").get_data(as_text=True)
    by_kind_and_sector = client.get(f"{url}?kind=expert&sector=metal").get_data(as_text=True)
    by_text = client.get(f"{url}?q=seoul").get_data(as_text=True)

    assert participant_names(by_economy) == ["Osaka Testing Lab"]
    assert participant_names(by_position) == ["Hanoi Castings"]
    assert participant_names(by_kind_and_sector) == ["Osaka Testing Lab"]
    assert participant_names(by_text) == ["Seoul Design Studio"]
    assert "No participant matches these filters." in client.get(
        f"{url}?economy=JP&kind=sme"
    ).get_data(as_text=True)


def test_facet_counts_count_only_the_events_participants(forum_with_participants):
    from partnermatch.events.participation import profile_ids_of
    from partnermatch.profiles.services import ProfileFilters, facet_counts

    facets = facet_counts(ProfileFilters(among=tuple(profile_ids_of(forum_with_participants))))

    assert {value.code: value.count for value in facets.economies} == {"JP": 1, "VN": 1, "KR": 1}
    assert {v.code: v.count for v in facets.kind if v.count} == {"sme": 1, "expert": 2}


def test_the_participant_list_is_paginated_and_keeps_its_filters(app, client, db):
    app.config["PROFILES_PER_PAGE"] = 2
    event = services.save_event(
        services.EventInput(
            "Forum", "", "Asia/Taipei", 20, 5, services.parse_sessions("2999-05-01 09:00-12:00")
        )
    )
    for number in range(5):
        db.session.add(
            Participant(event=event, profile=make_profile(name=f"Castings {number}", economy="VN"))
        )
    db.session.commit()

    first = client.get(f"/events/{event.id}?economy=VN").get_data(as_text=True)
    third = client.get(f"/events/{event.id}?economy=VN&page=3").get_data(as_text=True)

    assert "5 participants" in first
    assert "Castings 0" in first and "Castings 2" not in first
    assert f"/events/{event.id}?economy=VN&amp;page=2" in first
    assert "Castings 4" in third and "Castings 0" not in third


def test_only_staff_may_create_events(db, login_as):
    client = login_as(make_user(Role.SME))

    assert client.get("/events/new").status_code == 403
