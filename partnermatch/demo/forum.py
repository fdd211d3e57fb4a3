"""The demo programme's forum: a two-day brokerage event with registrations, requests and a
preliminary agenda, so that `make run` shows events at work; and last year's edition, held,
with its final agenda, no-shows, a cancellation and the parties' feedback, so that the
dashboard has meetings and answers to show."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from partnermatch.auth.models import User
from partnermatch.events import agenda, services
from partnermatch.events import feedback as meeting_feedback
from partnermatch.events.models import (
    AgendaState,
    Event,
    ItemKind,
    MarketplaceItem,
    Meeting,
    MeetingRequest,
    MeetingState,
    NextStep,
    Participant,
    RequestState,
    Usefulness,
)
from partnermatch.extensions import db
from partnermatch.profiles.models import Profile
from partnermatch.reference import ProfileKind
from partnermatch.review import services as review
from partnermatch.review.models import Match, MatchEvent, MatchOrigin, MatchState

FORUM_NAME = "SME Clusters through STI and Supplier Value Chain Integration"
PARTICIPANTS = 24
DEMO_SME = "demo-sme-tw-aluminium-diecasting"
DEMO_EXPERT = "demo-expert-jp-topology-optimisation"
PAST_FORUM_NAME = f"{FORUM_NAME}, last year's edition"
PAST_PARTICIPANTS = 12


def load_demo_forum(today: date | None = None) -> bool:
    """Create the demo forum unless it exists; return whether it was created.

    The forum is held six weeks after the day it is loaded, in Kaohsiung: two days of
    sessions, 20-minute meetings at 25 tables, registration and requests open now.
    """
    if db.session.scalar(select(Event.id).where(Event.name == FORUM_NAME)) is not None:
        return False
    today = today or datetime.now(UTC).date()
    first, second = today + timedelta(days=42), today + timedelta(days=43)
    sessions = "\n".join(
        f"{day.isoformat()} {hours}"
        for day in (first, second)
        for hours in ("09:00-12:00", "13:30-17:00")
    )
    event = services.save_event(
        services.EventInput(
            name=FORUM_NAME,
            venue="Kaohsiung Exhibition Center",
            timezone="Asia/Taipei",
            meeting_minutes=20,
            tables=25,
            sessions=services.parse_sessions(sessions),
            registration_opens=datetime.combine(today - timedelta(days=7), time(9)),
            registration_closes=datetime.combine(first - timedelta(days=3), time(18)),
            requests_open=datetime.combine(today - timedelta(days=7), time(9)),
            requests_close=datetime.combine(first - timedelta(days=1), time(18)),
        )
    )
    profiles = list(db.session.scalars(select(Profile).order_by(Profile.external_id)))
    by_id = {profile.external_id: profile for profile in profiles}
    chosen = [by_id[key] for key in (DEMO_SME, DEMO_EXPERT) if key in by_id]
    smes = [p for p in profiles if p.kind is ProfileKind.SME and p not in chosen]
    experts = [p for p in profiles if p.kind is ProfileKind.EXPERT and p not in chosen]
    while len(chosen) < PARTICIPANTS and (smes or experts):
        for pool in (smes, experts):
            if pool and len(chosen) < PARTICIPANTS:
                chosen.append(pool.pop(0))
    participants = {}
    for number, profile in enumerate(chosen):
        # Every third participant comes on the first day only.
        attends = event.sessions[:2] if number % 3 == 2 else list(event.sessions)
        participants[profile.external_id] = Participant(
            event=event, profile=profile, sessions=attends, meeting_cap=8 if number % 4 else None
        )
    db.session.add_all(participants.values())
    db.session.flush()
    _demo_requests(event, list(participants.values()), participants)
    _demo_marketplace(event, participants)
    return True


def _demo_marketplace(event: Event, by_external_id: dict) -> None:
    sme, expert = by_external_id.get(DEMO_SME), by_external_id.get(DEMO_EXPERT)
    items = [
        (sme, ItemKind.OFFER, "High-pressure die casting of aluminium housings."),
        (sme, ItemKind.SEEK, "Topology optimisation to take weight out of a motor housing."),
        (expert, ItemKind.OFFER, "Topology optimisation and lightweight design of cast parts."),
        (expert, ItemKind.SEEK, "An SME willing to trial optimised castings on its line."),
    ]
    db.session.add_all(
        MarketplaceItem(event=event, participant=participant, kind=kind, text=text)
        for participant, kind, text in items
        if participant is not None
    )


def _demo_requests(event: Event, everyone: list[Participant], by_external_id: dict) -> None:
    sme, expert = by_external_id.get(DEMO_SME), by_external_id.get(DEMO_EXPERT)
    if sme is None or expert is None:
        return
    accepted = MeetingRequest(
        event_id=event.id,
        sender=sme,
        recipient=expert,
        reason="Topology optimisation of our e-scooter motor housing before the next die.",
        state=RequestState.ACCEPTED,
    )
    others = [p for p in everyone if p not in (sme, expert)]
    waiting = [
        MeetingRequest(
            event_id=event.id,
            sender=other,
            recipient=target,
            reason=reason,
            state=RequestState.REQUESTED,
        )
        for other, target, reason in (
            (others[0], sme, "Second source for aluminium housings in our region."),
            (others[1], expert, "Lightweight design for a pump casing."),
            (others[2], sme, "Recycled alloy supply for your die-casting line."),
        )
        if len(others) >= 3
    ]
    db.session.add_all([accepted, *waiting])
    db.session.flush()
    day = event.sessions[0]
    start = datetime.combine(day.day, time(9, 20), tzinfo=ZoneInfo(event.timezone))
    db.session.add(
        Meeting(
            event_id=event.id,
            request=accepted,
            first=sme,
            second=expert,
            slot_start=start.astimezone(UTC),
            table_number=3,
            state=MeetingState.PUBLISHED,
        )
    )
    event.agenda = AgendaState.PRELIMINARY
    db.session.flush()


# --- last year's edition ---------------------------------------------------------------------

# The past edition's meetings, by position in its list of participants (even: SMEs, odd:
# experts; 0 and 1 the demo accounts' profiles), what became of them, and each party's
# answers (useful, next step) in that order; None where a party did not answer.
Answer = tuple[Usefulness, NextStep] | None
PAST_MEETINGS: tuple[tuple[int, int, str, Answer, Answer], ...] = (
    (0, 1, "held", (Usefulness.YES, NextStep.PARTNERSHIP), (Usefulness.YES, NextStep.PARTNERSHIP)),
    (
        2,
        3,
        "held",
        (Usefulness.YES, NextStep.ANOTHER_MEETING),
        (Usefulness.PARTLY, NextStep.PARTNERSHIP),
    ),
    (4, 5, "held", (Usefulness.NO, NextStep.NO_FIT), (Usefulness.PARTLY, NextStep.NO_FIT)),
    (
        6,
        7,
        "held",
        (Usefulness.YES, NextStep.ANOTHER_MEETING),
        (Usefulness.YES, NextStep.ANOTHER_MEETING),
    ),
    (8, 9, "held", (Usefulness.PARTLY, NextStep.ANOTHER_MEETING), None),
    (
        0,
        3,
        "held",
        (Usefulness.PARTLY, NextStep.NO_FIT),
        (Usefulness.YES, NextStep.ANOTHER_MEETING),
    ),
    (10, 1, "held", None, None),
    (2, 5, "no_show", None, None),
    (4, 11, "no_show", None, None),
    (6, 9, "cancelled", None, None),
)
# A meeting of three: the fourth meeting seated a third participant, who answered too.
PAST_THIRD = (3, 11, (Usefulness.YES, NextStep.ANOTHER_MEETING))
# Pairs (by position) a coordinator introduced before the forum: their meeting's feedback
# moves the introduction, as it does on the site.
PAST_INTRODUCTIONS = ((2, 3), (4, 5))


def load_past_forum(coordinator: User | None, today: date | None = None) -> bool:
    """Create last year's edition of the forum unless it exists; return whether it was.

    Held 365 days before this year's, at the same venue: 12 of the demo profiles, a final
    agenda of ten meetings (two no-shows, one cancelled, one of three), and the answers the
    parties gave afterwards, recorded as the feedback page records them (the demo accounts
    answer for their own profiles, the coordinator for those without an account). Needs a
    coordinator to answer for the unowned profiles; without one, nothing is created.
    """
    if coordinator is None or db.session.scalar(
        select(Event.id).where(Event.name == PAST_FORUM_NAME)
    ):
        return False
    today = today or datetime.now(UTC).date()
    first = today + timedelta(days=42 - 365)
    sessions = "\n".join(
        f"{day.isoformat()} {hours}"
        for day in (first, first + timedelta(days=1))
        for hours in ("09:00-12:00", "13:30-17:00")
    )
    event = services.save_event(
        services.EventInput(
            name=PAST_FORUM_NAME,
            venue="Kaohsiung Exhibition Center",
            timezone="Asia/Taipei",
            meeting_minutes=20,
            tables=12,
            sessions=services.parse_sessions(sessions),
            registration_opens=datetime.combine(first - timedelta(days=49), time(9)),
            registration_closes=datetime.combine(first - timedelta(days=3), time(18)),
            requests_open=datetime.combine(first - timedelta(days=49), time(9)),
            requests_close=datetime.combine(first - timedelta(days=1), time(18)),
        )
    )
    people = _past_participants(event)
    if len(people) < PAST_PARTICIPANTS:
        return True  # a partial demo (profiles missing): the event without its meetings
    for a, b in PAST_INTRODUCTIONS:
        _introduce(people[a].profile, people[b].profile, coordinator)
    zone = ZoneInfo(event.timezone)
    meetings = []
    for number, (a, b, fate, first_answer, second_answer) in enumerate(PAST_MEETINGS):
        request = MeetingRequest(
            event_id=event.id,
            sender=people[a],
            recipient=people[b],
            reason=_past_reason(people[a], people[b]),
            state=RequestState.ACCEPTED,
        )
        session = event.sessions[number % len(event.sessions)]
        start = datetime.combine(session.day, session.start, tzinfo=zone) + timedelta(
            minutes=event.meeting_minutes * (number // len(event.sessions))
        )
        meeting = Meeting(
            event_id=event.id,
            request=request,
            first=people[a],
            second=people[b],
            slot_start=start.astimezone(UTC),
            table_number=number + 1,
            # A final agenda published before the forum; its parties were told then.
            state=MeetingState.PUBLISHED,
            cancelled=fate == "cancelled",
            third=people[PAST_THIRD[1]] if number == PAST_THIRD[0] else None,
        )
        db.session.add_all([request, meeting])
        meetings.append((meeting, fate, first_answer, second_answer))
    event.agenda = AgendaState.FINAL
    db.session.flush()
    for meeting, fate, first_answer, second_answer in meetings:
        if fate == "no_show":
            agenda.mark_no_show(meeting, coordinator)
        answers = [(meeting.first, first_answer), (meeting.second, second_answer)]
        if meeting.third is not None:
            answers.append((meeting.third, PAST_THIRD[2]))
        for party, answer in answers:
            if answer is not None:
                actor = party.profile.owner or coordinator
                meeting_feedback.give_feedback(meeting, party, *answer, "", actor)
    return True


def _past_participants(event: Event) -> list[Participant]:
    """The demo accounts' two profiles, then SMEs and experts in turn from the end of the
    demo's lists (this year's forum draws from the start)."""
    profiles = list(db.session.scalars(select(Profile).order_by(Profile.external_id.desc())))
    by_id = {profile.external_id: profile for profile in profiles}
    if DEMO_SME not in by_id or DEMO_EXPERT not in by_id:
        return []
    chosen = [by_id[DEMO_SME], by_id[DEMO_EXPERT]]
    smes = [p for p in profiles if p.kind is ProfileKind.SME and p not in chosen]
    experts = [p for p in profiles if p.kind is ProfileKind.EXPERT and p not in chosen]
    while len(chosen) < PAST_PARTICIPANTS and smes and experts:
        chosen += [smes.pop(0), experts.pop(0)]
    participants = [
        Participant(event=event, profile=profile, sessions=list(event.sessions))
        for profile in chosen
    ]
    db.session.add_all(participants)
    db.session.flush()
    return participants


def _past_reason(sender: Participant, recipient: Participant) -> str:
    """What the sender wanted from the meeting: the first sentence of its needs."""
    needs = sender.profile.needs.split(". ")[0].rstrip(".")
    return f"{needs[:180]}." if needs else f"To meet {recipient.profile.name}."


def _introduce(sme: Profile, partner: Profile, coordinator: User) -> Match:
    """A coordinator's suggestion, approved and accepted on both sides (the coordinator
    answering for profiles without an account), as the review pages would record it."""
    match = Match(
        sme=sme, partner=partner, state=MatchState.SUGGESTED, origin=MatchOrigin.SUGGESTED
    )
    match.events.append(
        MatchEvent(action="suggest", from_state=None, to_state=MatchState.SUGGESTED.value)
    )
    db.session.add(match)
    db.session.flush()
    review.approve(match, coordinator)
    for side in ("sme", "partner"):
        review.respond(match, coordinator, True, side=side)
    return match
