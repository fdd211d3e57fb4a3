"""Scheduling an event: accepted requests and mutual opt-ins become meetings at tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from partnermatch.events import scheduling, services
from partnermatch.events.models import (
    Event,
    Meeting,
    MeetingPreference,
    MeetingRequest,
    MeetingState,
    Participant,
    Preference,
    RequestState,
)
from partnermatch.extensions import db
from tests.factories import make_profile

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

DAY = (datetime.now(UTC) + timedelta(days=200)).date().isoformat()


def forum(sessions: str = f"{DAY} 09:00-09:40", tables: int = 1) -> Event:
    """An event in Taipei (UTC+8): 09:00-09:40 holds two 20-minute slots."""
    event = services.save_event(
        services.EventInput(
            name="Kaohsiung Forum",
            venue="",
            timezone="Asia/Taipei",
            meeting_minutes=20,
            tables=tables,
            sessions=services.parse_sessions(sessions),
        )
    )
    db.session.flush()
    return event


def attendee(event: Event, name: str, cap: int | None = None, sessions=None) -> Participant:
    participant = Participant(
        event=event,
        profile=make_profile(name=name),
        meeting_cap=cap,
        sessions=list(event.sessions if sessions is None else sessions),
    )
    db.session.add(participant)
    db.session.flush()
    return participant


def accepted(event: Event, sender: Participant, recipient: Participant) -> MeetingRequest:
    request = MeetingRequest(
        event=event, sender=sender, recipient=recipient, state=RequestState.ACCEPTED
    )
    db.session.add(request)
    db.session.flush()
    return request


def mark(event: Event, one: Participant, other: Participant, choice: Preference) -> None:
    db.session.add(
        MeetingPreference(event_id=event.id, participant=one, other=other, choice=choice)
    )
    db.session.flush()


def meetings(event: Event) -> list[Meeting]:
    return list(
        db.session.scalars(
            select(Meeting).where(Meeting.event_id == event.id).order_by(Meeting.slot_start)
        )
    )


def pair_names(meeting: Meeting) -> set[str]:
    return {meeting.first.profile.name, meeting.second.profile.name}


def utc(hour: int, minute: int) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hour:02}:{minute:02}:00+00:00")


def aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def test_accepted_requests_are_placed_in_the_events_slots_at_its_tables(db):
    event = forum()
    ana, ben, chi = attendee(event, "Ana"), attendee(event, "Ben"), attendee(event, "Chi")
    first = accepted(event, ana, ben)
    accepted(event, chi, ana)

    report = scheduling.schedule_event(event)

    placed = meetings(event)
    assert report.proposed == 2 and not report.unplaced
    assert [pair_names(m) for m in placed] in (
        [{"Ana", "Ben"}, {"Ana", "Chi"}],
        [{"Ana", "Chi"}, {"Ana", "Ben"}],
    )
    # 09:00 and 09:20 in Taipei are 01:00 and 01:20 UTC; one table, so table 1 both times
    assert [aware(m.slot_start) for m in placed] == [utc(1, 0), utc(1, 20)]
    assert {m.table_number for m in placed} == {1}
    assert all(m.state is MeetingState.PROPOSED for m in placed)
    assert first.id in {m.request_id for m in placed}


def test_an_accepted_request_outweighs_a_mutual_opt_in_and_a_no_thanks_rules_a_pair_out(db):
    event = forum(f"{DAY} 09:00-09:20")  # one slot, one table: one meeting in all
    ana, ben, chi, dan = (attendee(event, name) for name in ("Ana", "Ben", "Chi", "Dan"))
    mark(event, ana, ben, Preference.MUST)
    mark(event, ben, ana, Preference.MUST)
    accepted(event, chi, dan)
    mark(event, chi, ben, Preference.WOULD)  # one-sided: never scheduled

    scheduling.schedule_event(event)

    assert [pair_names(m) for m in meetings(event)] == [{"Chi", "Dan"}]

    mark(event, dan, chi, Preference.NO)  # a "no thanks" after accepting
    report = scheduling.schedule_event(event)

    assert [pair_names(m) for m in meetings(event)] == [{"Ana", "Ben"}]
    assert report.wanted == 1  # the refused pair is not even wanted


def test_a_meeting_that_cannot_be_placed_is_listed_with_its_reason(db):
    event = forum()
    ana, ben, chi = attendee(event, "Ana", cap=1), attendee(event, "Ben"), attendee(event, "Chi")
    accepted(event, ana, ben)
    accepted(event, ana, chi)

    report = scheduling.schedule_event(event)

    assert report.proposed == 1
    [left_out] = report.unplaced
    assert left_out.reason == "cap_reached" and left_out.first.profile.name == "Ana"


def test_only_the_sessions_a_participant_attends_are_used(db):
    event = forum(f"{DAY} 09:00-09:20\n{DAY} 14:00-14:20")
    morning, afternoon = event.sessions
    ana = attendee(event, "Ana", sessions=[morning])
    ben = attendee(event, "Ben", sessions=[afternoon])
    chi = attendee(event, "Chi", sessions=[afternoon])
    accepted(event, ana, ben)
    accepted(event, ben, chi)

    report = scheduling.schedule_event(event)

    [meeting] = meetings(event)
    assert pair_names(meeting) == {"Ben", "Chi"} and aware(meeting.slot_start) == utc(6, 0)
    assert [item.reason for item in report.unplaced] == ["no_common_slot"]


def test_published_meetings_stay_put_and_proposed_ones_are_replaced(db):
    event = forum(tables=2)
    ana, ben, chi = attendee(event, "Ana"), attendee(event, "Ben"), attendee(event, "Chi")
    request = accepted(event, ana, ben)
    kept = Meeting(
        event=event,
        request=request,
        first=ana,
        second=ben,
        slot_start=utc(1, 20),
        table_number=2,
        state=MeetingState.PUBLISHED,
    )
    db.session.add(kept)
    stale = Meeting(
        event=event, first=ben, second=chi, slot_start=utc(1, 0), table_number=1
    )  # a proposal the requests no longer support
    db.session.add(stale)
    accepted(event, chi, ana)
    db.session.flush()

    report = scheduling.schedule_event(event)

    placed = meetings(event)
    assert report.kept == 1 and report.proposed == 1
    assert kept in placed and aware(kept.slot_start) == utc(1, 20) and kept.table_number == 2
    assert stale not in placed
    [new] = [m for m in placed if m is not kept]
    assert pair_names(new) == {"Ana", "Chi"} and aware(new.slot_start) == utc(1, 0)


def test_a_schedule_that_cannot_be_made_leaves_the_previous_meetings(db):
    event = forum()
    ana, ben = attendee(event, "Ana"), attendee(event, "Ben")
    accepted(event, ana, ben)
    scheduling.schedule_event(event)
    db.session.commit()
    before = [(m.id, m.slot_start) for m in meetings(event)]
    db.session.add(
        Meeting(  # published at 10:00 Taipei, outside every session now
            event=event,
            first=ana,
            second=attendee(event, "Chi"),
            slot_start=utc(2, 0),
            table_number=1,
            state=MeetingState.PUBLISHED,
        )
    )
    db.session.commit()

    with pytest.raises(scheduling.SchedulingError, match="no longer in any session"):
        scheduling.schedule_event(event)
    db.session.rollback()

    assert [(m.id, m.slot_start) for m in meetings(event) if m.state is MeetingState.PROPOSED] == (
        before
    )


def test_the_command_schedules_and_compares_with_a_greedy_schedule(app, db):
    event = forum()
    ana, ben = attendee(event, "Ana"), attendee(event, "Ben")
    accepted(event, ana, ben)
    db.session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["events", "schedule", str(event.id), "--time-limit", "5"])

    assert result.exit_code == 0, result.output
    assert "1 meetings proposed, 0 published ones kept, 0 of 1 wanted not placed" in result.output
    assert "a quick greedy schedule would place 3.0" in result.output
    assert len(meetings(event)) == 1
    missing = runner.invoke(args=["events", "schedule", "999999"])
    assert missing.exit_code == 1 and "No event has the id 999999" in missing.output


def test_the_background_job_reports_the_schedule(db):
    from partnermatch.jobs.tasks import event_schedule

    event = forum()
    accepted(event, attendee(event, "Ana"), attendee(event, "Ben"))
    db.session.commit()
    steps: list[float] = []

    result = event_schedule({"event_id": event.id}, lambda share, message="": steps.append(share))

    assert result["proposed"] == 1 and result["unplaced"] == 0 and steps
    assert "1 meetings proposed" in result["summary"]


def test_a_coordinator_schedules_from_the_grid_and_follows_the_job(app, db, login_as, monkeypatch):
    from partnermatch.auth.models import Role
    from partnermatch.jobs import runner
    from partnermatch.jobs.models import BackgroundJob
    from tests.factories import make_user

    event = forum()
    accepted(event, attendee(event, "Ana"), attendee(event, "Ben"))
    db.session.commit()
    client = login_as(make_user(Role.COORDINATOR))
    # The job itself is tested above; a thread outliving the test would find no database.
    monkeypatch.setattr(runner, "_run_in_thread", lambda app, job_id: None)

    grid = client.get(f"/events/{event.id}/grid").get_data(as_text=True)
    response = client.post(f"/events/{event.id}/schedule")

    assert "Schedule the meetings" in grid
    job = db.session.scalars(select(BackgroundJob)).one()
    assert job.kind == "event_schedule" and response.status_code == 302
    assert response.headers["Location"].endswith(f"/jobs/{job.id}")
