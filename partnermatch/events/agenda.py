"""Agendas: a participant's meetings in the event's time zone and as an iCalendar file; the
coordinators' grid of tables by slots; publishing, cancelling, no-shows.

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

from partnermatch.auth.models import User
from partnermatch.events.models import (
    AgendaState,
    Event,
    Meeting,
    MeetingState,
    Participant,
)
from partnermatch.events.participation import EventError, check_third
from partnermatch.events.participation import people as people_of
from partnermatch.extensions import db
from partnermatch.notifications.services import notify
from partnermatch.reference import N_


@dataclass(frozen=True)
class AgendaItem:
    meeting: Meeting
    start: datetime  # in the event's time zone
    end: datetime
    table: int
    partner: Participant  # the first of the others
    reason: str
    others: tuple[Participant, ...] = ()  # everyone else at the table: one, or two

    @property
    def names(self) -> list[str]:
        return [other.profile.name for other in self.others or (self.partner,)]


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
                Meeting.third.has(Participant.id == participant.id),
            ),
            Meeting.cancelled.is_(False),
        )
        .options(
            selectinload(Meeting.first).selectinload(Participant.profile),
            selectinload(Meeting.second).selectinload(Participant.profile),
            selectinload(Meeting.third).selectinload(Participant.profile),
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
        others = tuple(party for party in meeting.parties if party.id != participant.id)
        items.append(
            AgendaItem(
                meeting=meeting,
                start=start,
                end=start + length,
                table=meeting.table_number,
                partner=others[0],
                reason=meeting.request.reason if meeting.request else "",
                others=others,
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
        entry.add("summary", f"Meeting with {' and '.join(item.names)}")
        where = f"Table {item.table}"
        entry.add("location", f"{where}, {event.venue}" if event.venue else where)
        if item.reason:
            entry.add("description", item.reason)
        calendar.add_component(entry)
    calendar.add_missing_timezones()
    return calendar.to_ical()


# --- the coordinators' grid ------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    slots: list[datetime]  # slot starts, in the event's time zone
    tables: list[int]
    cells: dict[tuple[datetime, int], Meeting]  # (slot start, table) -> meeting
    empty: int  # table-slots without a meeting
    outside: list[Meeting]  # meetings at a time or table the grid has not got


def slot_starts(event: Event) -> list[datetime]:
    """Every meeting slot of the event's sessions, in the event's time zone, in order."""
    zone = ZoneInfo(event.timezone)
    length = timedelta(minutes=event.meeting_minutes)
    starts = []
    for session in event.sessions:
        start = datetime.combine(session.day, session.start, tzinfo=zone)
        end = datetime.combine(session.day, session.end, tzinfo=zone)
        while start + length <= end:
            starts.append(start)
            start += length
    return starts


def grid_of(event: Event) -> Grid:
    """Tables by slots with the event's meetings (not cancelled) in place."""
    slots = slot_starts(event)
    tables = list(range(1, event.tables + 1))
    known = {slot.astimezone(UTC): slot for slot in slots}
    cells: dict[tuple[datetime, int], Meeting] = {}
    outside = []
    meetings = db.session.scalars(
        select(Meeting)
        .where(Meeting.event_id == event.id, Meeting.cancelled.is_(False))
        .options(
            selectinload(Meeting.first).selectinload(Participant.profile),
            selectinload(Meeting.second).selectinload(Participant.profile),
            selectinload(Meeting.third).selectinload(Participant.profile),
        )
        .order_by(Meeting.slot_start, Meeting.table_number)
    )
    for meeting in meetings:
        slot = known.get(_local(meeting.slot_start, "UTC"))
        if slot is None or meeting.table_number not in tables:
            outside.append(meeting)
        else:
            cells[(slot, meeting.table_number)] = meeting
    return Grid(slots, tables, cells, len(slots) * len(tables) - len(cells), outside)


def _meeting_values(meeting: Meeting) -> dict[str, str]:
    event = meeting.event
    # A meeting of three names its second and third parties together as "second".
    return {
        "first": meeting.first.profile.name,
        "second": ", ".join(party.profile.name for party in meeting.parties[1:]),
        "event": event.name,
        "when": f"{_local(meeting.slot_start, event.timezone):%Y-%m-%d %H:%M}",
        "table": str(meeting.table_number),
    }


def _parties(meeting: Meeting) -> list:
    return people_of(*meeting.parties)


def publish(event: Event, stage: AgendaState | str, actor: User) -> int:
    """Publish the preliminary or the final agenda: every meeting not cancelled is shown to
    its parties, who are told. Return how many meetings are published."""
    stage = AgendaState(stage)
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator can publish the agenda."))
    if stage is AgendaState.UNPUBLISHED:
        raise EventError(N_("Publish a preliminary or a final agenda."))
    if event.agenda is AgendaState.FINAL and stage is AgendaState.PRELIMINARY:
        raise EventError(N_("The final agenda is published already."))
    meetings = list(
        db.session.scalars(
            select(Meeting).where(Meeting.event_id == event.id, Meeting.cancelled.is_(False))
        )
    )
    for meeting in meetings:
        meeting.state = MeetingState.PUBLISHED
    event.agenda = stage
    db.session.flush()
    people: list = []
    for meeting in meetings:
        people += _parties(meeting)
    notify(
        people,
        N_("The final agenda of %(event)s is published: see your meetings.")
        if stage is AgendaState.FINAL
        else N_("The preliminary agenda of %(event)s is published: see your meetings."),
        {"event": event.name},
        link=f"/events/{event.id}/meetings",
    )
    return len(meetings)


def cancel(meeting: Meeting, actor: User) -> None:
    """Cancel a meeting; once published, both parties are told."""
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator can change the schedule."))
    if meeting.cancelled:
        raise EventError(N_("This meeting is cancelled already."))
    meeting.cancelled = True
    db.session.flush()
    if meeting.state is MeetingState.PUBLISHED:
        notify(
            _parties(meeting),
            N_(
                "The meeting of %(first)s and %(second)s at %(event)s (%(when)s, table "
                "%(table)s) is cancelled."
            ),
            _meeting_values(meeting),
            link=f"/events/{meeting.event_id}/meetings",
        )


def mark_no_show(meeting: Meeting, actor: User, no_show: bool = True) -> None:
    """Record on the day that a meeting did not take place because a party did not come."""
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator can change the schedule."))
    meeting.no_show = no_show
    db.session.flush()


# --- on-the-day changes: move and swap --------------------------------------------------------


def _slot_sessions(event: Event) -> dict[datetime, int]:
    """Each slot start (in UTC) with the id of the session it belongs to."""
    zone = ZoneInfo(event.timezone)
    length = timedelta(minutes=event.meeting_minutes)
    owner: dict[datetime, int] = {}
    for session in event.sessions:
        start = datetime.combine(session.day, session.start, tzinfo=zone)
        end = datetime.combine(session.day, session.end, tzinfo=zone)
        while start + length <= end:
            owner[start.astimezone(UTC)] = session.id
            start += length
    return owner


def _check_place(
    meeting: Meeting, slot: datetime, table: int, ignoring: set[int], owner: dict[datetime, int]
) -> None:
    """Refuse a place for `meeting` that breaks a rule; meetings in `ignoring` are moving too."""
    event = meeting.event
    session_id = owner.get(slot)
    if session_id is None:
        raise EventError(N_("That time is not one of the event's meeting slots."))
    if not 1 <= table <= event.tables:
        raise EventError(N_("That table is not one of the event's tables."))
    others = db.session.scalars(
        select(Meeting).where(
            Meeting.event_id == event.id,
            Meeting.cancelled.is_(False),
            Meeting.id.not_in(ignoring),
        )
    )
    _check_free(meeting.parties, slot, table, others)
    for party in meeting.parties:
        if session_id not in {session.id for session in party.sessions}:
            raise EventError(N_("%(name)s does not attend that session."), name=party.profile.name)


def _check_free(parties: list[Participant], slot: datetime, table: int | None, others) -> None:
    """Refuse a table taken at `slot`, or a party meeting someone else then, among `others`."""
    party_ids = {party.id for party in parties}
    for other in others:
        if _local(other.slot_start, "UTC") != slot:
            continue
        if table is not None and other.table_number == table:
            raise EventError(N_("Table %(table)s is taken at that time."), table=str(table))
        busy = party_ids & other.party_ids
        if busy:
            who = next(party for party in parties if party.id in busy)
            raise EventError(
                N_("%(name)s has another meeting at that time."), name=who.profile.name
            )


def add_third(meeting: Meeting, third: Participant, actor: User) -> None:
    """A coordinator seats a third party at a meeting: a registered participant of the
    event, not one of the two, who attends the meeting's session and is free then. Once
    the meeting is published, all three are told."""
    _check_change(meeting, actor)
    if meeting.third_participant_id is not None:
        raise EventError(N_("This meeting has a third party already."))
    check_third(meeting.event, [meeting.first, meeting.second], third, actor)
    slot = _local(meeting.slot_start, "UTC")
    session_id = _slot_sessions(meeting.event).get(slot)
    if session_id not in {session.id for session in third.sessions}:
        raise EventError(N_("%(name)s does not attend that session."), name=third.profile.name)
    others = db.session.scalars(
        select(Meeting).where(
            Meeting.event_id == meeting.event_id,
            Meeting.cancelled.is_(False),
            Meeting.id != meeting.id,
        )
    )
    _check_free([third], slot, None, others)
    meeting.third = third
    db.session.flush()
    if meeting.state is MeetingState.PUBLISHED:
        notify(
            _parties(meeting),
            N_(
                "%(third)s joins the meeting of %(first)s and %(second)s at %(event)s "
                "(%(when)s, table %(table)s)."
            ),
            {
                **_meeting_values(meeting),
                "second": meeting.second.profile.name,
                "third": third.profile.name,
            },
            link=f"/events/{meeting.event_id}/meetings",
        )


def _tell_moved(meeting: Meeting) -> None:
    if meeting.state is MeetingState.PUBLISHED:
        notify(
            _parties(meeting),
            N_(
                "The meeting of %(first)s and %(second)s at %(event)s moves to %(when)s, "
                "table %(table)s."
            ),
            _meeting_values(meeting),
            link=f"/events/{meeting.event_id}/meetings",
        )


def _check_change(meeting: Meeting, actor: User) -> None:
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator can change the schedule."))
    if meeting.cancelled:
        raise EventError(N_("This meeting is cancelled already."))


def move(meeting: Meeting, slot: datetime, table: int, actor: User) -> None:
    """Move a meeting to a free table at another slot (or another table at its own slot);
    nobody ends up in two places, both parties attend that session; once published, both
    parties are told."""
    _check_change(meeting, actor)
    slot = _local(slot, "UTC")
    if _local(meeting.slot_start, "UTC") == slot and meeting.table_number == table:
        raise EventError(N_("The meeting is at that time and table already."))
    _check_place(meeting, slot, table, {meeting.id}, _slot_sessions(meeting.event))
    meeting.slot_start = slot
    meeting.table_number = table
    db.session.flush()
    _tell_moved(meeting)


def swap(meeting: Meeting, other: Meeting, actor: User) -> None:
    """Exchange the times and tables of two meetings of one event, checking both new places;
    once published, the parties of each are told."""
    _check_change(meeting, actor)
    _check_change(other, actor)
    if meeting.id == other.id or meeting.event_id != other.event_id:
        raise EventError(N_("Choose another meeting of this event to swap with."))
    owner = _slot_sessions(meeting.event)
    first_place = (_local(meeting.slot_start, "UTC"), meeting.table_number)
    second_place = (_local(other.slot_start, "UTC"), other.table_number)
    ignoring = {meeting.id, other.id}
    _check_place(meeting, *second_place, ignoring, owner)
    _check_place(other, *first_place, ignoring, owner)
    meeting.slot_start, meeting.table_number = second_place
    other.slot_start, other.table_number = first_place
    db.session.flush()
    _tell_moved(meeting)
    _tell_moved(other)
