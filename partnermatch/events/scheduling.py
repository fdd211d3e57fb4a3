"""Turn an event's accepted requests and mutual opt-ins into a timetable of tables and slots.

What is wanted, heaviest first:
- an accepted request (WEIGHT_ACCEPTED);
- a pair that both marked "must meet" (WEIGHT_MUST);
- a pair that both opted in, "must" or "would" (WEIGHT_WOULD): it fills free slots only.
A "no thanks" from either side rules a pair out; a pair already in a published meeting is
kept where it is (the solver's fixed meetings). A request or published meeting that a
coordinator gave a third party is placed with all three people (the solver seats two or
three at a table). The schedule itself is
partnermatch.matching.schedule (HiGHS, with a greedy baseline computed beside it).

Scheduling replaces the event's proposed meetings in one transaction: a failure leaves the
previous ones as they were. No HTTP; the caller commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from partnermatch.events.agenda import slot_starts
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
from partnermatch.events.services import to_utc
from partnermatch.extensions import db
from partnermatch.matching import schedule as solver

WEIGHT_ACCEPTED = 3.0
WEIGHT_MUST = 2.0
WEIGHT_WOULD = 1.0
DEFAULT_TIME_LIMIT = 20.0

Pair = tuple[int, int]  # participant ids, the smaller first


class SchedulingError(Exception):
    """The event cannot be scheduled as it stands (a published meeting breaks a rule...)."""


@dataclass(frozen=True)
class WantedMeeting:
    pair: Pair
    weight: float
    request_id: int | None = None
    published: Meeting | None = None
    third: int | None = None  # a third party's participant id

    @property
    def people(self) -> tuple[int, ...]:
        return (*self.pair, self.third) if self.third is not None else self.pair


@dataclass(frozen=True)
class Unplaced:
    first: Participant
    second: Participant
    reason: str  # a partnermatch.matching.schedule.Reason code
    third: Participant | None = None


@dataclass
class SchedulingReport:
    proposed: int  # new proposed meetings
    kept: int  # published meetings left in place
    wanted: int
    unplaced: list[Unplaced] = field(default_factory=list)
    weight: float = 0.0
    greedy_weight: float = 0.0
    upper_bound: float = 0.0
    status: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ScheduleInputs:
    slots: list[solver.Slot]
    people: list[solver.Person]
    wanted: list[WantedMeeting]


def _pair(first: int, second: int) -> Pair:
    return (first, second) if first < second else (second, first)


def _session_bounds(event: Event) -> dict[int, tuple[datetime, datetime]]:
    bounds = {}
    for session in event.sessions:
        start = to_utc(datetime.combine(session.day, session.start), event.timezone)
        end = to_utc(datetime.combine(session.day, session.end), event.timezone)
        bounds[session.id] = (start, end)
    return bounds


def _wanted_pairs(event: Event, published: dict[Pair, Meeting]) -> list[WantedMeeting]:
    marks: dict[tuple[int, int], Preference] = {
        (row.participant_id, row.other_participant_id): row.choice
        for row in db.session.scalars(
            select(MeetingPreference).where(MeetingPreference.event_id == event.id)
        )
    }
    refused = {_pair(a, b) for (a, b), choice in marks.items() if choice is Preference.NO}
    wanted: dict[Pair, WantedMeeting] = {}
    for pair, meeting in published.items():
        wanted[pair] = WantedMeeting(
            pair, WEIGHT_ACCEPTED, meeting.request_id, meeting, meeting.third_participant_id
        )
    accepted = db.session.scalars(
        select(MeetingRequest).where(
            MeetingRequest.event_id == event.id, MeetingRequest.state == RequestState.ACCEPTED
        )
    )
    for request in accepted:
        pair = _pair(request.from_participant_id, request.to_participant_id)
        if pair not in wanted and pair not in refused:
            wanted[pair] = WantedMeeting(
                pair, WEIGHT_ACCEPTED, request.id, third=request.third_participant_id
            )
    for (one, other), choice in marks.items():
        pair = _pair(one, other)
        back = marks.get((other, one))
        if pair in wanted or pair in refused or choice is Preference.NO or back is None:
            continue
        both_must = choice is Preference.MUST and back is Preference.MUST
        wanted[pair] = WantedMeeting(pair, WEIGHT_MUST if both_must else WEIGHT_WOULD)
    return sorted(wanted.values(), key=lambda w: w.pair)


def schedule_inputs(event: Event) -> ScheduleInputs:
    """The solver's inputs for an event: its slots, its participants' free slots and caps,
    and the meetings wanted (published ones fixed where they are)."""
    bounds = _session_bounds(event)
    length = timedelta(minutes=event.meeting_minutes)
    # The grid's slots (agenda.slot_starts), so that every meeting lands in a row of it.
    slots = [
        solver.Slot(index, start.astimezone(UTC), start.astimezone(UTC) + length)
        for index, start in enumerate(slot_starts(event))
    ]
    participants = db.session.scalars(
        select(Participant)
        .where(Participant.event_id == event.id)
        .options(selectinload(Participant.sessions))
    ).all()
    people = []
    for participant in participants:
        attended = [bounds[session.id] for session in participant.sessions]
        free = frozenset(
            slot.index
            for slot in slots
            if any(start <= slot.start and slot.end <= end for start, end in attended)
        )
        cap = len(slots) if participant.meeting_cap is None else participant.meeting_cap
        people.append(solver.Person(participant.id, free, cap))
    published = {
        _pair(m.first_participant_id, m.second_participant_id): m
        for m in db.session.scalars(
            select(Meeting).where(
                Meeting.event_id == event.id,
                Meeting.state == MeetingState.PUBLISHED,
                Meeting.cancelled.is_(False),
            )
        )
    }
    return ScheduleInputs(slots, people, _wanted_pairs(event, published))


def _fixed(meeting: Meeting | None, slots: list[solver.Slot]) -> tuple[int, int] | None:
    if meeting is None:
        return None
    start = meeting.slot_start
    if start.tzinfo is None:  # SQLite hands back naive UTC
        start = start.replace(tzinfo=UTC)
    index = next((slot.index for slot in slots if slot.start == start), None)
    if index is None:
        raise SchedulingError(
            f"The published meeting {meeting.id} is no longer in any session's slots: "
            "move or cancel it first."
        )
    return (index, meeting.table_number - 1)


def schedule_event(
    event: Event,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    progress: Callable[[str], None] | None = None,
) -> SchedulingReport:
    """Replace the event's proposed meetings by the best schedule found in `time_limit`."""
    inputs = schedule_inputs(event)
    wanted = [
        solver.Wanted(index, want.people, want.weight, _fixed(want.published, inputs.slots))
        for index, want in enumerate(inputs.wanted)
    ]
    arguments = (inputs.slots, event.tables, inputs.people, wanted)
    try:
        found = solver.solve(*arguments, time_limit=time_limit, progress=progress)
        baseline = solver.greedy(*arguments)
    except ValueError as error:
        raise SchedulingError(str(error)) from error

    db.session.execute(
        delete(Meeting).where(
            Meeting.event_id == event.id,
            Meeting.state == MeetingState.PROPOSED,
            Meeting.cancelled.is_(False),
        )
    )
    slot_start = {slot.index: slot.start for slot in inputs.slots}
    people = {
        p.id: p
        for p in db.session.scalars(select(Participant).where(Participant.event_id == event.id))
    }
    proposed = 0
    for index, (slot, table) in found.placed.items():
        want = inputs.wanted[index]
        if want.published is not None:
            continue
        db.session.add(
            Meeting(
                event_id=event.id,
                request_id=want.request_id,
                first_participant_id=want.pair[0],
                second_participant_id=want.pair[1],
                third=people[want.third] if want.third is not None else None,
                slot_start=slot_start[slot],
                table_number=table + 1,
                state=MeetingState.PROPOSED,
            )
        )
        proposed += 1
    db.session.flush()
    unplaced = [
        Unplaced(
            people[inputs.wanted[i].pair[0]],
            people[inputs.wanted[i].pair[1]],
            reason,
            people.get(inputs.wanted[i].third) if inputs.wanted[i].third else None,
        )
        for i, reason in sorted(found.unplaced.items(), key=lambda item: -wanted[item[0]].weight)
    ]
    return SchedulingReport(
        proposed=proposed,
        kept=sum(want.published is not None for want in inputs.wanted),
        wanted=len(wanted),
        unplaced=unplaced,
        weight=found.weight,
        greedy_weight=baseline.weight,
        upper_bound=found.upper_bound,
        status=str(found.status),
        seconds=found.wall_time,
    )
