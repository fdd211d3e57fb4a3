"""A participant's agenda: the event's time zone, a printable page, an .ics that parses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from partnermatch.auth.models import Role, User
from partnermatch.events import agenda, participation
from partnermatch.events.agenda import agenda_of, cancel, grid_of, publish
from partnermatch.events.models import AgendaState, Meeting, MeetingState
from partnermatch.events.participation import EventError
from partnermatch.extensions import db
from tests.factories import make_user
from tests.test_event_participation import make_event, outbox_to, registered

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

    assert agenda_of(forum["sme"]) == []


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


# --- the coordinators' grid ------------------------------------------------------------------


def test_the_grid_puts_meetings_at_their_table_and_slot_and_counts_empty_ones(forum, login_as):
    event = forum["event"]

    page = login_as(make_user(Role.COORDINATOR)).get(f"/events/{event.id}/grid")
    grid = grid_of(event)

    # Two sessions, 09:00-12:00 and 13:30-17:00: 9 + 10 slots of 20 minutes, 10 tables.
    assert len(grid.slots) == 19 and grid.tables == list(range(1, 11))
    first_day_0920 = grid.slots[1]
    assert (first_day_0920.hour, first_day_0920.minute) == (9, 20)
    assert grid.cells[(first_day_0920, 7)] == forum["published"]
    assert grid.empty == 19 * 10 - 2
    text = page.get_data(as_text=True)
    assert "188 empty table-slots" in text and "Kaohsiung Castings · Tainan Materials Lab" in text


def test_cancelling_a_published_meeting_asks_first_then_tells_both_parties(forum, login_as):
    event, meeting = forum["event"], forum["published"]
    client = login_as(make_user(Role.COORDINATOR))
    url = f"/events/{event.id}/meetings/{meeting.id}/cancel"

    confirmation = client.get(url).get_data(as_text=True)
    assert "Cancel this meeting?" in confirmation and not meeting.cancelled

    client.post(url)

    db.session.expire_all()
    assert meeting.cancelled
    told = [s for s in outbox_to(forum["sme_user"].email) if "is cancelled" in s]
    assert told == [
        "PartnerMatch: The meeting of Kaohsiung Castings and Tainan Materials Lab at "
        f"Kaohsiung Forum ({event.sessions[0].day.isoformat()} 09:20, table 7) is cancelled."
    ]


def test_cancelling_a_meeting_not_yet_published_tells_nobody(forum):
    proposed = db.session.scalars(
        db.select(Meeting).where(Meeting.state == MeetingState.PROPOSED)
    ).one()

    cancel(proposed, make_user(Role.COORDINATOR))

    assert proposed.cancelled
    assert not [s for s in outbox_to(forum["sme_user"].email) if "is cancelled" in s]


def test_publishing_shows_every_meeting_to_its_parties_and_tells_them(forum, login_as):
    event, sme_user = forum["event"], forum["sme_user"]
    client = login_as(make_user(Role.COORDINATOR))

    client.post(f"/events/{event.id}/publish", data={"stage": "preliminary"})

    db.session.expire_all()
    assert event.agenda is AgendaState.PRELIMINARY
    assert [item.partner.profile.name for item in agenda_of(forum["sme"])] == [
        "Tainan Materials Lab",
        "Draft Partner",
    ]
    assert any("preliminary agenda of Kaohsiung Forum" in s for s in outbox_to(sme_user.email))
    client.post(f"/events/{event.id}/publish", data={"stage": "final"})
    db.session.expire_all()
    assert event.agenda is AgendaState.FINAL
    with pytest.raises(EventError, match="final agenda is published already"):
        publish(event, AgendaState.PRELIMINARY, make_user(Role.COORDINATOR))


def test_a_no_show_is_marked_and_unmarked_on_the_grid(forum, login_as):
    event, meeting = forum["event"], forum["published"]
    client = login_as(make_user(Role.COORDINATOR))

    client.post(f"/events/{event.id}/meetings/{meeting.id}/no-show")
    db.session.expire_all()
    assert meeting.no_show
    assert "no-show" in client.get(f"/events/{event.id}/grid").get_data(as_text=True)
    client.post(f"/events/{event.id}/meetings/{meeting.id}/no-show")
    db.session.expire_all()
    assert not meeting.no_show


# --- the demo forum --------------------------------------------------------------------------


def test_the_demo_programme_holds_the_forum_once(app, db, login_as):
    from partnermatch.demo import load_demo
    from partnermatch.demo.forum import FORUM_NAME
    from partnermatch.events.models import Event, MeetingRequest, Participant

    first = load_demo(app.config["DEMO_PASSWORD"])
    db.session.commit()
    again = load_demo(app.config["DEMO_PASSWORD"])
    db.session.commit()

    assert first.forum_created and not again.forum_created
    event = db.session.scalars(db.select(Event).where(Event.name == FORUM_NAME)).one()
    assert (event.tables, event.meeting_minutes) == (25, 20)
    assert len(event.sessions) == 4 and event.agenda is AgendaState.PRELIMINARY
    of_event = Participant.event_id == event.id
    assert len(db.session.scalars(db.select(Participant).where(of_event)).all()) == 24
    assert (
        len(
            db.session.scalars(
                db.select(MeetingRequest).where(MeetingRequest.event_id == event.id)
            ).all()
        )
        == 4
    )
    sme_user = db.session.scalars(db.select(User).where(User.email == "sme@example.org")).one()
    client = login_as(sme_user, app.config["DEMO_PASSWORD"])
    participant = participation.participant_of(event, sme_user.profile)
    page = client.get(f"/events/{event.id}/participants/{participant.id}/agenda")
    assert "09:20" in page.get_data(as_text=True)
    meetings = client.get(f"/events/{event.id}/meetings").get_data(as_text=True)
    assert "Second source for aluminium housings" in meetings


# --- on-the-day changes: move and swap --------------------------------------------------------


def _at(event, hour: int, minute: int, session: int = 0) -> datetime:
    day = event.sessions[session].day
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TAIPEI).astimezone(UTC)


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def test_a_published_meeting_moves_to_a_free_table_and_both_parties_are_told(forum, login_as):
    event, meeting = forum["event"], forum["published"]
    client = login_as(make_user(Role.COORDINATOR))
    url = f"/events/{event.id}/meetings/{meeting.id}/move"
    assert "Move to another time or table" in client.get(url).get_data(as_text=True)

    client.post(url, data={"move-slot": _at(event, 10, 0).isoformat(), "move-table": "3"})

    db.session.expire_all()
    assert (_utc(meeting.slot_start), meeting.table_number) == (_at(event, 10, 0), 3)
    told = [s for s in outbox_to(forum["sme_user"].email) if "moves to" in s]
    assert told == [
        "PartnerMatch: The meeting of Kaohsiung Castings and Tainan Materials Lab at "
        f"Kaohsiung Forum moves to {event.sessions[0].day.isoformat()} 10:00, table 3."
    ]


def test_a_taken_table_is_refused_with_a_clear_error_and_nothing_moves(forum, login_as):
    event, meeting = forum["event"], forum["published"]
    _u, a = registered(event, name="Other One")
    _v, b = registered(event, "expert", name="Other Two")
    db.session.add(
        Meeting(event_id=event.id, first=a, second=b, slot_start=_at(event, 10, 0), table_number=3)
    )
    db.session.commit()
    client = login_as(make_user(Role.COORDINATOR))

    response = client.post(
        f"/events/{event.id}/meetings/{meeting.id}/move",
        data={"move-slot": _at(event, 10, 0).isoformat(), "move-table": "3"},
    )

    assert response.status_code == 400
    assert "Table 3 is taken at that time." in response.get_data(as_text=True)
    db.session.expire_all()
    assert meeting.table_number == 7
    assert not [s for s in outbox_to(forum["sme_user"].email) if "moves to" in s]


def test_nobody_is_moved_into_two_places_at_once(forum):
    event, meeting = forum["event"], forum["published"]
    # The SME already meets "Draft Partner" at 09:40 (the fixture's proposed meeting).
    with pytest.raises(EventError, match="Kaohsiung Castings has another meeting at that time"):
        agenda.move(meeting, _at(event, 9, 40), 5, make_user(Role.COORDINATOR))


def test_a_meeting_moves_only_into_a_session_both_parties_attend(forum):
    event, meeting = forum["event"], forum["published"]
    lab = forum["lab"]
    lab.sessions = [event.sessions[0]]  # the lab leaves before the afternoon
    db.session.commit()
    with pytest.raises(EventError, match="Tainan Materials Lab does not attend that session"):
        agenda.move(meeting, _at(event, 13, 50, session=1), 1, make_user(Role.COORDINATOR))
    with pytest.raises(EventError, match="not one of the event's meeting slots"):
        agenda.move(meeting, _at(event, 12, 40), 1, make_user(Role.COORDINATOR))
    with pytest.raises(EventError, match="not one of the event's tables"):
        agenda.move(meeting, _at(event, 10, 0), 11, make_user(Role.COORDINATOR))


def test_two_meetings_swap_times_and_tables(forum, login_as):
    event, meeting = forum["event"], forum["published"]
    _u, a = registered(event, name="Other One")
    _v, b = registered(event, "expert", name="Other Two")
    other = Meeting(
        event_id=event.id,
        first=a,
        second=b,
        slot_start=_at(event, 11, 0),
        table_number=1,
        state=MeetingState.PUBLISHED,
    )
    db.session.add(other)
    db.session.commit()
    client = login_as(make_user(Role.COORDINATOR))

    client.post(f"/events/{event.id}/meetings/{meeting.id}/swap", data={"swap-other": other.id})

    db.session.expire_all()
    assert (_utc(meeting.slot_start), meeting.table_number) == (_at(event, 11, 0), 1)
    assert (_utc(other.slot_start), other.table_number) == (_at(event, 9, 20), 7)
    assert [s for s in outbox_to(forum["sme_user"].email) if "moves to" in s]
    assert [s for s in outbox_to(_u.email) if "moves to" in s]


def test_a_swap_that_puts_someone_in_two_places_is_refused(forum, login_as):
    event, meeting = forum["event"], forum["published"]  # the SME and the lab at 09:20
    _u, a = registered(event, name="Other One")
    _v, b = registered(event, "expert", name="Other Two")
    _w, c = registered(event, "expert", name="Third Lab")
    third = Meeting(
        event_id=event.id, first=a, second=b, slot_start=_at(event, 9, 0), table_number=1
    )
    # The lab meets Third Lab at 09:00 already: it cannot take the 09:00 meeting's place.
    busy = Meeting(
        event_id=event.id, first=forum["lab"], second=c, slot_start=_at(event, 9, 0), table_number=2
    )
    db.session.add_all([third, busy])
    db.session.commit()
    client = login_as(make_user(Role.COORDINATOR))

    response = client.post(
        f"/events/{event.id}/meetings/{meeting.id}/swap", data={"swap-other": third.id}
    )

    assert response.status_code == 400
    assert "Tainan Materials Lab has another meeting at that time." in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert meeting.table_number == 7 and third.table_number == 1
