"""Meetings of three: a coordinator seats a third participant at a request or a meeting
(an SME, a lab and a government programme at one table); the scheduler places all three,
and the grid, the agendas, the calendar file and the API show every party."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.events import agenda, feedback, participation, scheduling
from partnermatch.events.models import Meeting, MeetingState, RequestState
from partnermatch.events.participation import EventError
from partnermatch.extensions import db
from partnermatch.timeutil import utcnow
from tests.factories import make_user
from tests.test_event_participation import make_event, outbox_to, page_text, registered

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

TAIPEI = ZoneInfo("Asia/Taipei")


@pytest.fixture
def table(db):
    """An SME and a lab with an accepted request and a published meeting at 09:20 Taipei
    time; a government programme and a fourth participant are registered too."""
    event = make_event()
    sme_user, sme = registered(event, name="Kaohsiung Castings")
    lab_user, lab = registered(event, "expert", name="Tainan Materials Lab")
    gov_user, gov = registered(event, "expert", name="Taiwan SME Programme")
    _busy_user, busy = registered(event, "expert", name="Busy Lab")
    request = participation.ask_to_meet(sme, lab, "Lighter housings.", sme_user)
    participation.answer(request, lab_user, accept=True)
    day = event.sessions[0].day
    start = datetime(day.year, day.month, day.day, 9, 20, tzinfo=TAIPEI).astimezone(UTC)
    meeting = Meeting(
        event_id=event.id,
        request=request,
        first=sme,
        second=lab,
        slot_start=start,
        table_number=2,
        state=MeetingState.PUBLISHED,
    )
    db.session.add(meeting)
    db.session.commit()
    return {
        "event": event,
        "sme_user": sme_user,
        "sme": sme,
        "lab_user": lab_user,
        "lab": lab,
        "gov_user": gov_user,
        "gov": gov,
        "busy": busy,
        "request": request,
        "meeting": meeting,
        "start": start,
        "coordinator": make_user(Role.COORDINATOR),
    }


def test_a_coordinator_seats_a_third_party_and_all_three_are_told(table):
    agenda.add_third(table["meeting"], table["gov"], table["coordinator"])
    db.session.commit()

    assert [p.profile.name for p in table["meeting"].parties] == [
        "Kaohsiung Castings",
        "Tainan Materials Lab",
        "Taiwan SME Programme",
    ]
    for user in ("sme_user", "lab_user", "gov_user"):
        assert any(
            "Taiwan SME Programme joins the meeting" in s for s in outbox_to(table[user].email)
        )


def test_the_third_party_must_be_another_registered_attendee_who_is_free(table):
    other_event = make_event(name="Da Nang Forum")
    _user, stranger = registered(other_event, name="Elsewhere")
    day_two_only = table["event"].sessions[2:]
    table["busy"].sessions = list(day_two_only)
    _late_user, late = registered(table["event"], name="Late Arrival")
    late.sessions = list(day_two_only)
    _taken_user, taken = registered(table["event"], "expert", name="Taken Lab")
    db.session.add(
        Meeting(
            event_id=table["event"].id,
            first=taken,
            second=table["busy"],
            slot_start=table["start"],
            table_number=3,
            state=MeetingState.PUBLISHED,
        )
    )
    taken.sessions = list(table["event"].sessions)
    db.session.commit()
    coordinator, meeting = table["coordinator"], table["meeting"]

    refusals = {}
    for name, third, actor in [
        ("stranger", stranger, coordinator),
        ("party", table["lab"], coordinator),
        ("absent", late, coordinator),
        ("taken", taken, coordinator),
        ("not staff", table["gov"], table["sme_user"]),
    ]:
        with pytest.raises(EventError) as refused:
            agenda.add_third(meeting, third, actor)
        refusals[name] = str(refused.value)

    assert refusals == {
        "stranger": "Elsewhere is not registered for this event.",
        "party": "Tainan Materials Lab is in this meeting already.",
        "absent": "Late Arrival attends none of the sessions the other two attend.",
        "taken": "Taken Lab has another meeting at that time.",
        "not staff": "Only a coordinator can change the schedule.",
    }
    assert meeting.third_participant_id is None


def test_the_agendas_grid_and_calendar_show_every_party(table, login_as):
    agenda.add_third(table["meeting"], table["gov"], table["coordinator"])
    db.session.commit()
    event = table["event"]

    gov_items = agenda.agenda_of(table["gov"])
    sme_items = agenda.agenda_of(table["sme"])
    grid = agenda.grid_of(event)
    ics = login_as(table["gov_user"]).get(
        f"/events/{event.id}/participants/{table['gov'].id}/agenda.ics"
    )
    page = page_text(
        login_as(table["gov_user"]).get(f"/events/{event.id}/participants/{table['gov'].id}/agenda")
    )

    assert [item.names for item in gov_items] == [["Kaohsiung Castings", "Tainan Materials Lab"]]
    assert [item.names for item in sme_items] == [["Tainan Materials Lab", "Taiwan SME Programme"]]
    assert "Kaohsiung Castings" in page and "Tainan Materials Lab" in page
    [entry] = icalendar.Calendar.from_ical(ics.data).walk("VEVENT")
    assert str(entry["summary"]) == "Meeting with Kaohsiung Castings and Tainan Materials Lab"
    cell = next(iter(grid.cells.values()))
    assert [p.profile.name for p in cell.parties][-1] == "Taiwan SME Programme"


def test_a_third_party_added_to_a_request_is_scheduled_with_the_two(table):
    event = table["event"]
    db.session.delete(table["meeting"])
    db.session.commit()
    participation.add_third_to_request(table["request"], table["gov"], table["coordinator"])
    db.session.commit()

    report = scheduling.schedule_event(event, time_limit=5)

    [meeting] = db.session.scalars(select(Meeting).where(Meeting.event_id == event.id)).all()
    assert report.proposed == 1 and not report.unplaced
    assert meeting.party_ids == {table["sme"].id, table["lab"].id, table["gov"].id}
    assert any(
        "Taiwan SME Programme joins the meeting" in s for s in outbox_to(table["gov_user"].email)
    )


def test_the_scheduler_keeps_the_three_apart_from_their_other_meetings(table):
    """One slot only: the meeting of three and a meeting of the third party with someone
    else cannot both take place; the heavier (the accepted request of three) wins."""
    event = table["event"]
    for session in event.sessions[1:]:
        db.session.delete(session)
    event.sessions[0].end = event.sessions[0].start.replace(minute=20)
    db.session.delete(table["meeting"])
    db.session.commit()
    participation.add_third_to_request(table["request"], table["gov"], table["coordinator"])
    other = participation.ask_to_meet(
        table["busy"], table["gov"], "Funding.", table["busy"].profile.owner
    )
    participation.answer(other, table["gov_user"], accept=True)
    db.session.commit()

    report = scheduling.schedule_event(event, time_limit=5)

    placed = db.session.scalars(select(Meeting).where(Meeting.event_id == event.id)).all()
    assert report.proposed == 1
    [unplaced] = report.unplaced
    assert {unplaced.first.id, unplaced.second.id} == {table["busy"].id, table["gov"].id}
    assert unplaced.reason == "cap_reached"  # one slot: every attendee's cap is one
    assert [len(meeting.party_ids) for meeting in placed] == [3]


@pytest.mark.parametrize("who_said_no", ["lab", "gov"])
def test_a_no_thanks_between_the_third_and_either_party_keeps_them_apart(table, who_said_no):
    other = "gov" if who_said_no == "lab" else "lab"
    participation.set_preference(
        table[who_said_no], table[other], "no", table[f"{who_said_no}_user"]
    )
    db.session.commit()

    with pytest.raises(EventError) as refused:
        participation.add_third_to_request(table["request"], table["gov"], table["coordinator"])
    with pytest.raises(EventError):
        agenda.add_third(table["meeting"], table["gov"], table["coordinator"])

    assert "no thanks" in str(refused.value)
    assert table["request"].third_participant_id is None
    assert table["meeting"].third_participant_id is None


def test_a_declined_request_takes_no_third_party(table):
    table["request"].state = RequestState.DECLINED
    db.session.commit()

    with pytest.raises(EventError, match="declined"):
        participation.add_third_to_request(table["request"], table["gov"], table["coordinator"])


def test_the_grid_page_seats_a_third_party_and_refuses_with_a_message(table, login_as):
    event, meeting = table["event"], table["meeting"]
    client = login_as(table["coordinator"])
    url = f"/events/{event.id}/meetings/{meeting.id}/third"

    refused = client.post(url, data={"third-participant": table["lab"].id})
    seated = client.post(url, data={"third-participant": table["gov"].id})

    assert refused.status_code == 400  # the lab is not among the choices
    assert seated.status_code == 302
    db.session.expire_all()
    assert db.session.get(Meeting, meeting.id).third_participant_id == table["gov"].id
    page = page_text(client.get(f"/events/{event.id}/meetings/{meeting.id}/move"))
    assert "Taiwan SME Programme is the meeting's third participant." in page
    grid_page = page_text(client.get(f"/events/{event.id}/grid"))
    assert "Kaohsiung Castings · Tainan Materials Lab · Taiwan SME Programme" in grid_page


def test_the_api_adds_a_third_party_and_the_agenda_lists_every_party(table, client):
    def bearer(user):
        _token, secret = create_token(user, "three")
        db.session.commit()
        return {"Authorization": f"Bearer {secret}"}

    event, meeting = table["event"], table["meeting"]
    url = f"/api/v1/events/{event.id}/meetings/{meeting.id}/third"

    by_member = client.post(
        url, headers=bearer(table["sme_user"]), json={"participant_id": table["gov"].id}
    )
    bad = client.post(url, headers=bearer(table["coordinator"]), json={"participant_id": "gov"})
    party = client.post(
        url, headers=bearer(table["coordinator"]), json={"participant_id": table["lab"].id}
    )
    added = client.post(
        url, headers=bearer(table["coordinator"]), json={"participant_id": table["gov"].id}
    )
    read = client.get(
        f"/api/v1/events/{event.id}/participants/{table['sme'].id}/agenda",
        headers=bearer(table["sme_user"]),
    ).get_json()

    assert by_member.status_code == 403
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "participant_id"
    assert party.status_code == 422 and party.get_json()["error"]["field"] == "participant_id"
    assert added.status_code == 200
    assert added.get_json()["participant_ids"] == [
        table["sme"].id,
        table["lab"].id,
        table["gov"].id,
    ]
    assert [p["name"] for p in read["meetings"][0]["parties"]] == [
        "Tainan Materials Lab",
        "Taiwan SME Programme",
    ]


def test_the_third_party_gives_feedback_that_the_figures_count(table, login_as):
    agenda.add_third(table["meeting"], table["gov"], table["coordinator"])
    table["meeting"].slot_start = utcnow() - timedelta(hours=1)
    db.session.commit()
    meeting, event = table["meeting"], table["event"]

    feedback.give_feedback(meeting, table["gov"], "yes", "partnership", "", table["gov_user"])
    feedback.give_feedback(meeting, table["sme"], "yes", "another_meeting", "", table["sme_user"])
    db.session.commit()
    page = page_text(
        login_as(table["gov_user"]).get(
            f"/events/{event.id}/participants/{table['gov'].id}/meetings/{meeting.id}/feedback"
        )
    )
    figures = feedback.figures([meeting])

    assert "Feedback on your meeting with Kaohsiung Castings, Tainan Materials Lab" in page
    assert (figures.answered, figures.both_answered) == (1, 1)
    assert figures.follow_ups["another_meeting"] == 1
    assert feedback.is_party(meeting, table["gov"]) and not feedback.is_party(
        meeting, table["busy"]
    )


def test_a_coordinator_adds_a_third_party_to_an_accepted_request_on_its_page(table, login_as):
    event, meeting_request = table["event"], table["request"]
    client = login_as(table["coordinator"])
    url = f"/events/{event.id}/requests/{meeting_request.id}/third"
    listing = page_text(client.get(f"/events/{event.id}/requests/accepted"))
    table["busy"].sessions = []
    db.session.commit()

    form = page_text(client.get(url))
    absent = client.post(url, data={"participant": table["busy"].id})
    added = client.post(url, data={"participant": table["gov"].id})
    after = page_text(client.get(f"/events/{event.id}/requests/accepted"))

    assert url in listing and "Kaohsiung Castings" in listing
    assert "Taiwan SME Programme" in form and "Tainan Materials Lab</option>" not in form
    assert absent.status_code == 400
    assert "Busy Lab attends none of the sessions the other two attend." in page_text(absent)
    assert added.status_code == 302
    db.session.expire_all()
    assert meeting_request.third_participant_id == table["gov"].id
    assert "Taiwan SME Programme" in after and url not in after
