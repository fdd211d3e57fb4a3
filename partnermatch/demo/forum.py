"""The demo programme's forum: a two-day brokerage event with registrations, requests and a
preliminary agenda, so that `make run` shows events at work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from partnermatch.events import services
from partnermatch.events.models import (
    AgendaState,
    Event,
    ItemKind,
    MarketplaceItem,
    Meeting,
    MeetingRequest,
    MeetingState,
    Participant,
    RequestState,
)
from partnermatch.extensions import db
from partnermatch.profiles.models import Profile
from partnermatch.reference import ProfileKind

FORUM_NAME = "SME Clusters through STI and Supplier Value Chain Integration"
PARTICIPANTS = 24
DEMO_SME = "demo-sme-tw-aluminium-diecasting"
DEMO_EXPERT = "demo-expert-jp-topology-optimisation"


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
