"""A participant's agenda: its meetings in the event's time zone, and as an iCalendar file.

Meetings are whatever Meeting rows exist (the scheduler places them). A participant sees
its published meetings; coordinators also see those only proposed. No HTTP and no language
here: the calendar's texts are English, like the API's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as CalendarEvent
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from partnermatch.events.models import Event, Meeting, MeetingState, Participant
from partnermatch.extensions import db


@dataclass(frozen=True)
class AgendaItem:
    meeting: Meeting
    start: datetime  # in the event's time zone
    end: datetime
    table: int
    partner: Participant
    reason: str


def _local(instant: datetime, zone: str) -> datetime:
    if instant.tzinfo is None:  # SQLite hands back naive UTC
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(ZoneInfo(zone))


def agenda_of(participant: Participant, *, with_proposed: bool = False) -> list[AgendaItem]:
    """The participant's meetings that are not cancelled, in time order."""
    event = participant.event
    query = (
        select(Meeting)
        .where(
            Meeting.event_id == event.id,
            or_(
                Meeting.first_participant_id == participant.id,
                Meeting.second_participant_id == participant.id,
            ),
            Meeting.cancelled.is_(False),
        )
        .options(
            selectinload(Meeting.first).selectinload(Participant.profile),
            selectinload(Meeting.second).selectinload(Participant.profile),
            selectinload(Meeting.request),
        )
        .order_by(Meeting.slot_start, Meeting.table_number)
    )
    if not with_proposed:
        query = query.where(Meeting.state == MeetingState.PUBLISHED)
    length = timedelta(minutes=event.meeting_minutes)
    items = []
    for meeting in db.session.scalars(query):
        start = _local(meeting.slot_start, event.timezone)
        partner = (
            meeting.second if meeting.first_participant_id == participant.id else meeting.first
        )
        items.append(
            AgendaItem(
                meeting=meeting,
                start=start,
                end=start + length,
                table=meeting.table_number,
                partner=partner,
                reason=meeting.request.reason if meeting.request else "",
            )
        )
    return items


def calendar_of(event: Event, participant: Participant, items: list[AgendaItem]) -> bytes:
    """The agenda as an iCalendar file, its times in the event's zone with a VTIMEZONE."""
    calendar = Calendar()
    calendar.add("prodid", "-//PartnerMatch//Brokerage events//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{event.name}: {participant.profile.name}")
    stamp = datetime.now(UTC)
    for item in items:
        entry = CalendarEvent()
        entry.add("uid", f"meeting-{item.meeting.id}@partnermatch")
        entry.add("dtstamp", stamp)
        entry.add("dtstart", item.start)
        entry.add("dtend", item.end)
        entry.add("summary", f"Meeting with {item.partner.profile.name}")
        where = f"Table {item.table}"
        entry.add("location", f"{where}, {event.venue}" if event.venue else where)
        if item.reason:
            entry.add("description", item.reason)
        calendar.add_component(entry)
    calendar.add_missing_timezones()
    return calendar.to_ical()
