"""A participant's agenda: the event's time zone, a printable page, an .ics that parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from partnermatch.auth.models import Role
from partnermatch.events import participation
from partnermatch.events.models import Meeting, MeetingState
from partnermatch.extensions import db
from tests.factories import make_user
from tests.test_event_participation import make_event, registered

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

TAIPEI = ZoneInfo("Asia/Taipei")


@pytest.fixture
def forum(db):
    """An accepted request with a published meeting at 09:20 Taipei time (01:20 UTC) and
    a proposed one that is not published yet."""
    event = make_event()
    event.venue = "Kaohsiung Exhibition Center"
    sme_user, sme = registered(event, name="Kaohsiung Castings")
    lab_user, lab = registered(event, "expert", name="Tainan Materials Lab")
    _other_user, other = registered(event, "expert", name="Draft Partner")
    request = participation.ask_to_meet(sme, lab, "Topology optimisation of a housing.", sme_user)
    participation.answer(request, lab_user, accept=True)
    day = event.sessions[0].day
    start = datetime(day.year, day.month, day.day, 9, 20, tzinfo=TAIPEI).astimezone(UTC)
    published = Meeting(
        event_id=event.id,
        request=request,
        first=sme,
        second=lab,
        slot_start=start,
        table_number=7,
        state=MeetingState.PUBLISHED,
    )
    proposed = Meeting(
        event_id=event.id,
        first=other,
        second=sme,
        slot_start=start + timedelta(minutes=20),
        table_number=2,
        state=MeetingState.PROPOSED,
    )
    db.session.add_all([published, proposed])
    db.session.commit()
    return {"event": event, "sme_user": sme_user, "sme": sme, "lab": lab, "published": published}


def test_the_agenda_shows_published_meetings_in_the_events_time_zone(forum, login_as):
    event, sme = forum["event"], forum["sme"]

    page = login_as(forum["sme_user"]).get(f"/events/{event.id}/participants/{sme.id}/agenda")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "09:20\u201309:40" in text and "Tainan Materials Lab" in text
    assert "Topology optimisation of a housing." in text and "Times in Asia/Taipei" in text
    assert "Draft Partner" not in text  # proposed, not yet published


def test_coordinators_see_proposed_meetings_too(forum, login_as):
    event, sme = forum["event"], forum["sme"]

    page = login_as(make_user(Role.COORDINATOR)).get(
        f"/events/{event.id}/participants/{sme.id}/agenda"
    )

    assert "Draft Partner" in page.get_data(as_text=True)


def test_the_ics_file_parses_and_holds_the_times_in_the_events_zone(forum, login_as):
    event, sme = forum["event"], forum["sme"]

    response = login_as(forum["sme_user"]).get(
        f"/events/{event.id}/participants/{sme.id}/agenda.ics"
    )

    assert response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    calendar = Calendar.from_ical(response.data)
    meetings = calendar.walk("VEVENT")
    assert len(meetings) == 1
    meeting = meetings[0]
    start, end = meeting.decoded("dtstart"), meeting.decoded("dtend")
    assert (start.hour, start.minute, end.hour, end.minute) == (9, 20, 9, 40)
    assert str(start.tzinfo) == "Asia/Taipei" and start.utcoffset() == timedelta(hours=8)
    assert meeting["dtstart"].params["TZID"] == "Asia/Taipei"
    assert [zone["tzid"] for zone in calendar.walk("VTIMEZONE")] == ["Asia/Taipei"]
    assert str(meeting["summary"]) == "Meeting with Tainan Materials Lab"
    assert str(meeting["location"]) == "Table 7, Kaohsiung Exhibition Center"


def test_cancelled_meetings_leave_the_agenda(forum):
    forum["published"].cancelled = True
    db.session.commit()

    assert participation_agenda(forum["sme"]) == []


def participation_agenda(participant):
    from partnermatch.events.agenda import agenda_of

    return agenda_of(participant)


def test_nobody_reads_another_participants_agenda(forum, login_as):
    event, sme = forum["event"], forum["sme"]
    stranger, _participant = registered(event, name="Curious Co.")

    client = login_as(stranger)

    assert client.get(f"/events/{event.id}/participants/{sme.id}/agenda").status_code == 403
    assert client.get(f"/events/{event.id}/participants/{sme.id}/agenda.ics").status_code == 403


def test_an_empty_agenda_says_so(db, login_as):
    event = make_event()
    user, participant = registered(event)

    page = login_as(user).get(f"/events/{event.id}/participants/{participant.id}/agenda")

    assert "No meetings on this agenda yet" in page.get_data(as_text=True)
