"""Events: sessions read from text, overlap checks, saving an event, upcoming and past lists.

No HTTP and no language here: callers translate. Services flush and commit nothing.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from partnermatch.events.models import Event, EventSession, Pairing, Participant
from partnermatch.extensions import db
from partnermatch.timeutil import utcnow


@dataclass(frozen=True, order=True)
class SessionInput:
    day: date
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.start:%H:%M}-{self.end:%H:%M}"


class SessionSyntaxError(ValueError):
    """A line of the sessions text that is not "YYYY-MM-DD HH:MM-HH:MM" with start < end."""

    def __init__(self, line_number: int, line: str) -> None:
        super().__init__(f"line {line_number}: {line!r}")
        self.line_number = line_number
        self.line = line


_SESSION_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})$")


def parse_sessions(text: str) -> list[SessionInput]:
    """Read one session a line ("2027-03-10 09:00-12:00"), blank lines skipped, sorted."""
    sessions = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        found = _SESSION_LINE.match(line)
        if not found:
            raise SessionSyntaxError(number, line)
        try:
            day = date.fromisoformat(found[1])
            start = time.fromisoformat(found[2].zfill(5))
            end = time.fromisoformat(found[3].zfill(5))
        except ValueError:
            raise SessionSyntaxError(number, line) from None
        if start >= end:
            raise SessionSyntaxError(number, line)
        sessions.append(SessionInput(day, start, end))
    return sorted(sessions)


def sessions_text(sessions: list[EventSession]) -> str:
    """Write an event's sessions back as the text parse_sessions reads."""
    return "\n".join(str(SessionInput(s.day, s.start, s.end)) for s in sessions)


def overlapping(sessions: list[SessionInput]) -> list[tuple[SessionInput, SessionInput]]:
    """Return each pair of sessions on the same day whose times overlap (touching is fine)."""
    ordered = sorted(sessions)
    return [
        (first, second)
        for first, second in itertools.pairwise(ordered)
        if first.day == second.day and second.start < first.end
    ]


def is_time_zone(name: str) -> bool:
    """Tell whether `name` is an IANA time zone this machine knows ("Asia/Taipei")."""
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass
class EventInput:
    name: str
    venue: str
    timezone: str
    meeting_minutes: int
    tables: int
    sessions: list[SessionInput]
    pairing: Pairing = Pairing.ANY
    review_requests: bool = False
    # Local times in the event's zone (naive), as a coordinator types them; stored in UTC.
    registration_opens: datetime | None = None
    registration_closes: datetime | None = None
    requests_open: datetime | None = None
    requests_close: datetime | None = None


WINDOW_FIELDS = ("registration_opens", "registration_closes", "requests_open", "requests_close")


def to_utc(local: datetime | None, zone: str) -> datetime | None:
    """Read a naive local time in `zone` as an instant in UTC."""
    if local is None:
        return None
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


def to_local(instant: datetime | None, zone: str) -> datetime | None:
    """Show a stored instant in `zone` (SQLite hands back naive UTC: read it as UTC)."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=ZoneInfo("UTC"))
    return instant.astimezone(ZoneInfo(zone))


def save_event(data: EventInput, event: Event | None = None) -> Event:
    """Create an event, or update one, replacing its sessions by `data.sessions`.

    Sessions that stay (same day and times) keep their rows, so participants who attend
    them keep attending.
    """
    if overlapping(data.sessions):
        raise ValueError("sessions overlap")
    if event is None:
        event = Event()
        db.session.add(event)
    event.name = data.name
    event.venue = data.venue
    event.timezone = data.timezone
    event.meeting_minutes = data.meeting_minutes
    event.tables = data.tables
    event.pairing = data.pairing
    event.review_requests = data.review_requests
    for field in WINDOW_FIELDS:
        setattr(event, field, to_utc(getattr(data, field), data.timezone))
    kept = {SessionInput(s.day, s.start, s.end): s for s in event.sessions}
    event.sessions = [
        kept.get(session) or EventSession(day=session.day, start=session.start, end=session.end)
        for session in data.sessions
    ]
    db.session.flush()
    return event


def event_ends(event: Event) -> datetime | None:
    """The instant the event's last session ends (UTC), or None without sessions."""
    if not event.sessions:
        return None
    last = event.sessions[-1]
    return to_utc(datetime.combine(last.day, last.end), event.timezone)


def upcoming_and_past(now: datetime | None = None) -> tuple[list[Event], list[Event]]:
    """Split every event into upcoming (soonest first) and past (latest first).

    An event without sessions yet counts as upcoming.
    """
    now = now or utcnow()
    events = db.session.scalars(select(Event).options(selectinload(Event.sessions))).all()
    upcoming, past = [], []
    for event in events:
        ends = event_ends(event)
        (past if ends is not None and ends <= now else upcoming).append(event)
    far = date.max
    upcoming.sort(key=lambda e: (e.first_day or far, e.id))
    past.sort(key=lambda e: (e.last_day, e.id), reverse=True)
    return upcoming, past


def participants_of(event: Event, page: int, per_page: int, profile_ids: list[int] | None = None):
    """A page of the event's participants, by profile name (only `profile_ids`, if given)."""
    from partnermatch.profiles.models import Profile

    query = (
        select(Participant)
        .join(Participant.profile)
        .where(Participant.event_id == event.id)
        .options(selectinload(Participant.profile), selectinload(Participant.sessions))
        .order_by(Profile.name, Participant.id)
    )
    if profile_ids is not None:
        query = query.where(Participant.profile_id.in_(profile_ids))
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def slot_minutes(event: Event) -> timedelta:
    return timedelta(minutes=event.meeting_minutes)
