"""After a meeting: each party says whether it was useful and what comes next.

Each party answers once (and may change its answers) after the meeting's slot has ended.
The answers feed the pair's introduction, if they have one (a meeting is a consented
introduction, but not every meeting comes from one): once both parties have answered,

- both "no fit": the pair's open introduction is closed as *no fit*;
- anything else: an introduction still at *introduced* moves to *meeting held*, its note
  naming what both want next ("partnership, another meeting").

A meeting without an introduction changes no match (a match needs an SME, a reviewed
suggestion and both consents); it is counted with the outcomes on the dashboard instead
(`follow_ups`). The learning from decisions reads matches only, so feedback reaches it
through the introductions it moves (see README, "Brokerage events").

No HTTP and no language; the caller commits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from partnermatch.auth.models import User
from partnermatch.errors import ValidationError
from partnermatch.events.models import (
    Meeting,
    MeetingFeedback,
    MeetingState,
    NextStep,
    Participant,
    Usefulness,
)
from partnermatch.events.participation import EventError, answers_for
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.profiles.models import Profile
from partnermatch.reference import N_
from partnermatch.review import services as review
from partnermatch.review.models import Match, MatchState
from partnermatch.timeutil import utcnow

MAX_NOTE = 1000


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def has_ended(meeting: Meeting, now: datetime | None = None) -> bool:
    """Tell whether the meeting's slot is over."""
    end = _aware(meeting.slot_start) + timedelta(minutes=meeting.event.meeting_minutes)
    return end <= (now or utcnow())


def is_party(meeting: Meeting, participant: Participant) -> bool:
    """Tell whether the participant is one of the meeting's two (or three) parties."""
    return participant.id in meeting.party_ids


def feedback_of(meeting: Meeting) -> dict[int, MeetingFeedback]:
    """Return the meeting's answers by participant id."""
    rows = db.session.scalars(
        select(MeetingFeedback).where(MeetingFeedback.meeting_id == meeting.id)
    )
    return {row.participant_id: row for row in rows}


def answered_by(participant: Participant) -> dict[int, MeetingFeedback]:
    """Return the participant's answers by meeting id."""
    rows = db.session.scalars(
        select(MeetingFeedback).where(MeetingFeedback.participant_id == participant.id)
    )
    return {row.meeting_id: row for row in rows}


def check_open(meeting: Meeting, now: datetime | None = None) -> None:
    """Raise an EventError unless the meeting took place and is over."""
    if meeting.cancelled or meeting.state is not MeetingState.PUBLISHED:
        raise EventError(N_("This meeting is not on the published agenda."))
    if meeting.no_show:
        raise EventError(N_("This meeting is marked a no-show: there is nothing to rate."))
    if not has_ended(meeting, now):
        raise EventError(N_("Feedback opens once the meeting has ended."))


def give_feedback(
    meeting: Meeting,
    participant: Participant,
    useful: Usefulness | str,
    next_step: NextStep | str,
    note: str,
    actor: User,
    now: datetime | None = None,
) -> MeetingFeedback:
    """Record (or change) one party's answers after the meeting has ended."""
    if not is_party(meeting, participant) or not answers_for(actor, participant.profile):
        raise EventError(N_("Only the two parties of a meeting give feedback on it."))
    check_open(meeting, now)
    try:
        useful, next_step = Usefulness(useful), NextStep(next_step)
    except ValueError:
        raise EventError(N_("Answer both questions with one of the choices offered.")) from None
    try:
        note = clean_text(note, "note")
    except ValidationError:
        raise EventError(N_("The note holds a character that cannot be read.")) from None
    if len(note) > MAX_NOTE:
        raise EventError(N_("Keep the note under %(count)s characters."), count=MAX_NOTE)
    row = feedback_of(meeting).get(participant.id)
    if row is None:
        row = MeetingFeedback(meeting=meeting, participant=participant)
        db.session.add(row)
    row.useful, row.next_step, row.note = useful, next_step, note
    row.updated_at = utcnow()
    db.session.flush()
    _feed_introduction(meeting, actor)
    return row


OPEN_TO_OUTCOME = (MatchState.INTRODUCED, MatchState.MEETING_HELD)


def introduction_of(meeting: Meeting) -> Match | None:
    """Return the pair's introduction that is open to an outcome (introduced or meeting held)."""
    first, second = meeting.first.profile_id, meeting.second.profile_id
    return db.session.scalars(
        select(Match)
        .where(
            or_(
                (Match.sme_profile_id == first) & (Match.partner_profile_id == second),
                (Match.sme_profile_id == second) & (Match.partner_profile_id == first),
            ),
            Match.state.in_(OPEN_TO_OUTCOME),
        )
        .order_by(Match.id.desc())
    ).first()


def _feed_introduction(meeting: Meeting, actor: User) -> None:
    # The introduction is the first two parties'; a third party's answers are counted on
    # the dashboard only.
    pair = {meeting.first_participant_id, meeting.second_participant_id}
    answers = {pid: row for pid, row in feedback_of(meeting).items() if pid in pair}
    if len(answers) < 2:
        return
    match = introduction_of(meeting)
    if match is None or not (actor.is_staff or review.side_of(match, actor)):
        return
    steps = {answer.next_step for answer in answers.values()}
    note = f"Met at {meeting.event.name}: " + ", ".join(
        sorted(step.value.replace("_", " ") for step in steps)
    )
    # Each party's answer is its side's outcome answer (review.combined_outcome): two "no
    # fit" close the introduction, anything else says the two met. An answer a party gave on
    # the match page itself stands.
    for answer in answers.values():
        side = "sme" if answer.participant.profile_id == match.sme_profile_id else "partner"
        if review.party_outcome(match, side) is None and match.state in OPEN_TO_OUTCOME:
            outcome = (
                MatchState.NO_FIT
                if answer.next_step is NextStep.NO_FIT
                else MatchState.MEETING_HELD
            )
            review.record_outcome(match, actor, outcome, note, for_side=side)


def follow_up(answers: list[MeetingFeedback]) -> str | None:
    """What two answers mean together: "partnership" (both want one), "another_meeting"
    (either wants to meet again or talk partnership), "no_fit" (both), or None."""
    if len(answers) < 2:
        return None
    steps = {answer.next_step for answer in answers}
    if steps == {NextStep.PARTNERSHIP}:
        return "partnership"
    if steps == {NextStep.NO_FIT}:
        return "no_fit"
    return "another_meeting" if steps - {NextStep.NO_FIT} else None


@dataclass(frozen=True)
class FeedbackFigures:
    meetings: int  # published meetings held (not cancelled, no no-show) whose slot is over
    answered: int  # meetings with at least one answer
    both_answered: int
    useful: dict[Usefulness, int]  # answers by value
    next_steps: dict[NextStep, int]
    follow_ups: dict[str, int]  # meetings both answered, by follow_up()


def agenda_meetings(
    event_id: int | None = None, *, ended_only: bool = False, now: datetime | None = None
) -> list[Meeting]:
    """Return the published meetings that are not cancelled or no-shows (optionally of one
    event, optionally only those whose slot is over), with their parties' profiles."""
    party_profile = (Participant.profile, Profile.value_chain_rows)
    query = (
        select(Meeting)
        .where(
            Meeting.state == MeetingState.PUBLISHED,
            Meeting.cancelled.is_(False),
            Meeting.no_show.is_(False),
        )
        .options(
            selectinload(Meeting.event),
            selectinload(Meeting.first)
            .selectinload(party_profile[0])
            .selectinload(party_profile[1]),
            selectinload(Meeting.second)
            .selectinload(party_profile[0])
            .selectinload(party_profile[1]),
        )
        .order_by(Meeting.slot_start, Meeting.id)
    )
    if event_id is not None:
        query = query.where(Meeting.event_id == event_id)
    meetings = list(db.session.scalars(query))
    return [m for m in meetings if has_ended(m, now)] if ended_only else meetings


def held_meetings(event_id: int | None = None, now: datetime | None = None) -> list[Meeting]:
    """Return the published meetings that took place: their slot is over, nobody missed it."""
    return agenda_meetings(event_id, ended_only=True, now=now)


def figures(meetings: list[Meeting]) -> FeedbackFigures:
    """Count the answers given on these meetings and what they lead to."""
    by_meeting: dict[int, list[MeetingFeedback]] = {}
    ids = [meeting.id for meeting in meetings]
    if ids:
        for row in db.session.scalars(
            select(MeetingFeedback).where(MeetingFeedback.meeting_id.in_(ids))
        ):
            by_meeting.setdefault(row.meeting_id, []).append(row)
    answers = [row for rows in by_meeting.values() for row in rows]
    follow_ups = Counter(
        outcome for rows in by_meeting.values() if (outcome := follow_up(rows)) is not None
    )
    return FeedbackFigures(
        meetings=len(meetings),
        answered=len(by_meeting),
        both_answered=sum(1 for rows in by_meeting.values() if len(rows) >= 2),
        useful=dict.fromkeys(Usefulness, 0) | Counter(row.useful for row in answers),
        next_steps=dict.fromkeys(NextStep, 0) | Counter(row.next_step for row in answers),
        follow_ups={"partnership": 0, "another_meeting": 0, "no_fit": 0} | dict(follow_ups),
    )


def event_feedback(event_id: int, page: int, per_page: int):
    """A page of every answer given at an event, latest first (for coordinators)."""
    query = (
        select(MeetingFeedback)
        .join(MeetingFeedback.meeting)
        .where(Meeting.event_id == event_id)
        .options(
            selectinload(MeetingFeedback.participant).selectinload(Participant.profile),
            selectinload(MeetingFeedback.meeting)
            .selectinload(Meeting.first)
            .selectinload(Participant.profile),
            selectinload(MeetingFeedback.meeting)
            .selectinload(Meeting.second)
            .selectinload(Participant.profile),
        )
        .order_by(MeetingFeedback.updated_at.desc(), MeetingFeedback.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)
