"""Taking part in an event: registration, requests to meet, and who would meet whom.

    MeetingRequest: requested --approve (review)--> approved --accept--> accepted
                        |                               '----decline--> declined
                        +--reject (review)--> declined
                        '--(no review) accept / decline

The rules only: no HTTP and no language. A refusal is an `EventError` whose message is a
catalogue message (marked with N_) with %(name)s fields, translated by the caller. Services
flush and commit nothing; notifications are written in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from partnermatch.auth.models import User
from partnermatch.errors import ValidationError
from partnermatch.events.models import (
    Event,
    EventSession,
    MeetingPreference,
    MeetingRequest,
    Pairing,
    Participant,
    Preference,
    RequestState,
)
from partnermatch.events.services import event_ends
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.notifications.services import coordinators, notify
from partnermatch.profiles.models import Profile
from partnermatch.reference import N_, ProfileKind
from partnermatch.timeutil import utcnow

MAX_REASON = 500
# States in which a request still waits for someone: a coordinator or the other side.
OPEN_STATES = (RequestState.REQUESTED, RequestState.APPROVED)


class EventError(Exception):
    """A step the event's rules do not allow; `message` is a catalogue message."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values


def _aware(instant: datetime | None) -> datetime | None:
    # SQLite hands back naive UTC datetimes.
    if instant is not None and instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant


def window_is(opens: datetime | None, closes: datetime | None, now: datetime) -> str:
    """Return "before", "open" or "after" for a window whose ends may be unset."""
    opens, closes = _aware(opens), _aware(closes)
    if opens is not None and now < opens:
        return "before"
    if closes is not None and now >= closes:
        return "after"
    return "open"


def registration_is(event: Event, now: datetime | None = None) -> str:
    """Whether registration is "before", "open" or "after" (an event that ended is "after")."""
    now = now or utcnow()
    ends = event_ends(event)
    if ends is not None and now >= ends:
        return "after"
    return window_is(event.registration_opens, event.registration_closes, now)


def requests_are(event: Event, now: datetime | None = None) -> str:
    """Whether meeting requests are "before", "open" or "after"."""
    now = now or utcnow()
    ends = event_ends(event)
    if ends is not None and now >= ends:
        return "after"
    return window_is(event.requests_open, event.requests_close, now)


# --- who is who ------------------------------------------------------------------------------


def may_act_for(user: User | Any, profile: Profile) -> bool:
    """The profile's owner acts for it; staff act for every profile."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or profile.owner_id == user.id


def answers_for(user: User | Any, profile: Profile) -> bool:
    """Who answers requests to a profile: its owner, or staff when no account owns it."""
    if not getattr(user, "is_authenticated", False):
        return False
    if profile.owner_id is not None:
        return profile.owner_id == user.id
    return bool(user.is_staff)


def participant_of(event: Event, profile: Profile | None) -> Participant | None:
    """Return the profile's registration for the event, if it has one."""
    if profile is None:
        return None
    return db.session.scalar(
        select(Participant).where(
            Participant.event_id == event.id, Participant.profile_id == profile.id
        )
    )


def people(*participants: Participant) -> list[User | None]:
    """The accounts to tell about these participants; coordinators answer for unowned ones."""
    users: list[User | None] = [p.profile.owner for p in participants]
    if any(p.profile.owner_id is None for p in participants):
        users += coordinators()
    return users


def meetings_path(event: Event) -> str:
    """The site path of "My meetings" (messages are written outside any request)."""
    return f"/events/{event.id}/meetings"


# --- registration ----------------------------------------------------------------------------


def register(
    event: Event,
    profile: Profile,
    sessions: Sequence[EventSession],
    meeting_cap: int | None,
    actor: User,
    now: datetime | None = None,
) -> Participant:
    """Register a profile for the event, or change its registration (sessions, cap).

    Members register their own profile within the registration window; coordinators
    register any profile until the event ends (late arrivals and walk-ins).
    """
    if not may_act_for(actor, profile):
        raise EventError(N_("You can register only your own profile."))
    now = now or utcnow()
    ends = event_ends(event)
    if ends is not None and now >= ends:
        raise EventError(N_("This event is over."))
    state = window_is(event.registration_opens, event.registration_closes, now)
    if state == "before" and not actor.is_staff:
        raise EventError(N_("Registration for this event has not opened yet."))
    if state == "after" and not actor.is_staff:
        raise EventError(N_("Registration for this event has closed."))
    if not sessions:
        raise EventError(N_("Choose at least one session you will attend."))
    own = {session.id for session in event.sessions}
    if any(session.id not in own for session in sessions):
        raise EventError(N_("Choose sessions of this event."))
    if meeting_cap is not None and not 0 <= meeting_cap <= 100:
        raise EventError(N_("A cap on meetings is a number from 0 to 100."))
    participant = participant_of(event, profile)
    if participant is None:
        participant = Participant(event=event, profile=profile)
        db.session.add(participant)
    participant.sessions = list(sessions)
    participant.meeting_cap = meeting_cap
    db.session.flush()
    return participant


def unregister(participant: Participant, actor: User, now: datetime | None = None) -> None:
    """Take a registration off the event, with its requests and meetings."""
    event = participant.event
    if not may_act_for(actor, participant.profile):
        raise EventError(N_("You can take only your own profile off the event."))
    if not actor.is_staff and registration_is(event, now) != "open":
        raise EventError(
            N_("Registration has closed: ask a coordinator to take you off the event.")
        )
    db.session.delete(participant)
    db.session.flush()


def events_for(
    profile: Profile, now: datetime | None = None
) -> list[tuple[Event, Participant | None]]:
    """Upcoming events the profile is registered for or may register for, soonest first."""
    from partnermatch.events.services import upcoming_and_past

    upcoming, _past = upcoming_and_past(now)
    mine = {
        row.event_id: row
        for row in db.session.scalars(
            select(Participant).where(Participant.profile_id == profile.id)
        )
    }
    return [
        (event, mine.get(event.id))
        for event in upcoming
        if event.id in mine or registration_is(event, now) == "open"
    ]


def unregistered_profiles(event: Event) -> list[Profile]:
    """Profiles not registered for the event, by name: what a coordinator may register."""
    registered = select(Participant.profile_id).where(Participant.event_id == event.id)
    return list(
        db.session.scalars(
            select(Profile).where(Profile.id.not_in(registered)).order_by(Profile.name, Profile.id)
        )
    )


# --- who may meet whom -----------------------------------------------------------------------


def pairing_allows(event: Event, first: Profile, second: Profile) -> bool:
    """Tell whether the event's "who may meet whom" lets these two meet."""
    if event.pairing is Pairing.SME_EXPERT:
        return {first.kind, second.kind} == {ProfileKind.SME, ProfileKind.EXPERT}
    return True


def preferences_of(participant: Participant) -> dict[int, Preference]:
    """The participant's marks on others, by the other participant's id."""
    rows = db.session.scalars(
        select(MeetingPreference).where(MeetingPreference.participant_id == participant.id)
    )
    return {row.other_participant_id: row.choice for row in rows}


def ruled_out(first: Participant, second: Participant) -> bool:
    """A "no thanks" from either side rules the pair out."""
    return (
        db.session.scalar(
            select(MeetingPreference.id).where(
                MeetingPreference.choice == Preference.NO,
                or_(
                    (MeetingPreference.participant_id == first.id)
                    & (MeetingPreference.other_participant_id == second.id),
                    (MeetingPreference.participant_id == second.id)
                    & (MeetingPreference.other_participant_id == first.id),
                ),
            )
        )
        is not None
    )


def set_preference(
    participant: Participant, other: Participant, choice: Preference | str, actor: User
) -> MeetingPreference:
    """Mark another participant "must meet", "would meet" or "no thanks"."""
    choice = Preference(choice)
    if not may_act_for(actor, participant.profile):
        raise EventError(N_("You can mark partners only for your own registration."))
    if other.event_id != participant.event_id:
        raise EventError(N_("%(name)s is not registered for this event."), name=other.profile.name)
    if other.id == participant.id:
        raise EventError(N_("You cannot mark yourself."))
    row = db.session.scalar(
        select(MeetingPreference).where(
            MeetingPreference.participant_id == participant.id,
            MeetingPreference.other_participant_id == other.id,
        )
    )
    if row is None:
        row = MeetingPreference(event_id=participant.event_id, participant=participant, other=other)
        db.session.add(row)
    row.choice = choice
    row.updated_at = utcnow()
    db.session.flush()
    return row


# --- requests to meet ------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    try:
        reason = clean_text(reason, "reason").strip()
    except ValidationError:
        raise EventError(N_("The reason holds a character that cannot be read.")) from None
    if not reason:
        raise EventError(N_("Give a short reason for the meeting."))
    if len(reason) > MAX_REASON:
        raise EventError(N_("Keep the reason under %(count)s characters."), count=MAX_REASON)
    return reason


def request_between(first: Participant, second: Participant) -> MeetingRequest | None:
    """Return the request between two participants, in either direction, if there is one."""
    return db.session.scalar(
        select(MeetingRequest).where(
            or_(
                (MeetingRequest.from_participant_id == first.id)
                & (MeetingRequest.to_participant_id == second.id),
                (MeetingRequest.from_participant_id == second.id)
                & (MeetingRequest.to_participant_id == first.id),
            )
        )
    )


def ask_to_meet(
    sender: Participant,
    recipient: Participant,
    reason: str,
    actor: User,
    now: datetime | None = None,
) -> MeetingRequest:
    """A participant asks another to meet; the request goes to the other side, or first to
    a coordinator when the event reviews requests."""
    event = sender.event
    if not may_act_for(actor, sender.profile):
        raise EventError(N_("You can ask only for your own registration."))
    if recipient.event_id != event.id:
        raise EventError(
            N_("%(name)s is not registered for this event."), name=recipient.profile.name
        )
    if recipient.id == sender.id:
        raise EventError(N_("You cannot ask to meet yourself."))
    state = requests_are(event, now)
    if state == "before":
        raise EventError(N_("Meeting requests for this event have not opened yet."))
    if state == "after":
        raise EventError(N_("Meeting requests for this event have closed."))
    if not pairing_allows(event, sender.profile, recipient.profile):
        raise EventError(N_("At this event, SMEs meet experts only."))
    existing = request_between(sender, recipient)
    if existing is not None and existing.from_participant_id == sender.id:
        raise EventError(
            N_("You have already asked to meet %(name)s."), name=recipient.profile.name
        )
    if existing is not None:
        raise EventError(
            N_("%(name)s has already asked to meet you: answer it under My meetings."),
            name=recipient.profile.name,
        )
    if ruled_out(sender, recipient):
        raise EventError(
            N_("One of you marked the other “no thanks”: %(name)s cannot be asked."),
            name=recipient.profile.name,
        )
    request = MeetingRequest(
        event_id=event.id,
        sender=sender,
        recipient=recipient,
        reason=_reason(reason),
        state=RequestState.REQUESTED,
    )
    db.session.add(request)
    db.session.flush()
    values = _request_values(request)
    if event.review_requests:
        notify(
            coordinators(),
            N_("%(sender)s asks to meet %(recipient)s at %(event)s: the request waits for review."),
            values,
            link=f"/events/{event.id}/requests",
        )
    else:
        _send_to_recipient(request)
    return request


def _request_values(request: MeetingRequest) -> dict[str, str]:
    return {
        "sender": request.sender.profile.name,
        "recipient": request.recipient.profile.name,
        "event": request.sender.event.name,
    }


def _send_to_recipient(request: MeetingRequest) -> None:
    notify(
        people(request.recipient),
        N_("%(sender)s asks to meet %(recipient)s at %(event)s. Please accept or decline."),
        _request_values(request),
        link=meetings_path(request.sender.event),
    )


def waits_for_answer(request: MeetingRequest) -> bool:
    """Tell whether the recipient may answer now (reviewed first when the event says so)."""
    if request.state is RequestState.APPROVED:
        return True
    return request.state is RequestState.REQUESTED and not request.sender.event.review_requests


def reached_recipient(request: MeetingRequest) -> bool:
    """The recipient sees a request once it needs no review or a coordinator approved it."""
    if request.state is RequestState.REQUESTED:
        return not request.sender.event.review_requests
    return not (request.state is RequestState.DECLINED and request.declined_in_review)


def request_stage(request: MeetingRequest) -> str:
    """Where a request stands, as a catalogue label."""
    if request.state is RequestState.ACCEPTED:
        return N_("Accepted")
    if request.state is RequestState.DECLINED:
        return N_("Not approved") if request.declined_in_review else N_("Declined")
    if waits_for_answer(request):
        return N_("Waiting for an answer")
    return N_("Waiting for a coordinator")


def review(request: MeetingRequest, actor: User, approve: bool) -> None:
    """A coordinator lets a request through to the other side, or turns it down."""
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator can review a meeting request."))
    if request.state is not RequestState.REQUESTED or not request.sender.event.review_requests:
        raise EventError(N_("This request is not waiting for review."))
    values = _request_values(request)
    if approve:
        request.state = RequestState.APPROVED
        db.session.flush()
        _send_to_recipient(request)
    else:
        request.state = RequestState.DECLINED
        request.declined_in_review = True
        db.session.flush()
        notify(
            people(request.sender),
            N_("The request of %(sender)s to meet %(recipient)s at %(event)s was not approved."),
            values,
            link=meetings_path(request.sender.event),
        )


def answer(request: MeetingRequest, actor: User, accept: bool) -> None:
    """The recipient accepts or declines; both sides are told."""
    if not answers_for(actor, request.recipient.profile):
        raise EventError(
            N_("Only %(name)s can answer this request."), name=request.recipient.profile.name
        )
    if not waits_for_answer(request):
        if request.state is RequestState.REQUESTED:
            raise EventError(N_("This request is waiting for a coordinator's review."))
        raise EventError(N_("This request has already been answered."))
    request.state = RequestState.ACCEPTED if accept else RequestState.DECLINED
    db.session.flush()
    notify(
        people(request.sender, request.recipient),
        N_("%(recipient)s accepted to meet %(sender)s at %(event)s.")
        if accept
        else N_("%(recipient)s declined to meet %(sender)s at %(event)s."),
        _request_values(request),
        link=meetings_path(request.sender.event),
    )


def _with_parties():
    return (
        selectinload(MeetingRequest.sender).selectinload(Participant.profile),
        selectinload(MeetingRequest.recipient).selectinload(Participant.profile),
    )


def incoming(participant: Participant) -> list[MeetingRequest]:
    """Requests to the participant that have reached it, newest first."""
    rows = db.session.scalars(
        select(MeetingRequest)
        .where(MeetingRequest.to_participant_id == participant.id)
        .options(*_with_parties())
        .order_by(MeetingRequest.created_at.desc(), MeetingRequest.id.desc())
    )
    return [request for request in rows if reached_recipient(request)]


def outgoing(participant: Participant) -> list[MeetingRequest]:
    """The participant's own requests, newest first."""
    return list(
        db.session.scalars(
            select(MeetingRequest)
            .where(MeetingRequest.from_participant_id == participant.id)
            .options(*_with_parties())
            .order_by(MeetingRequest.created_at.desc(), MeetingRequest.id.desc())
        )
    )


def awaiting_review(event: Event, page: int, per_page: int):
    """The event's requests waiting for a coordinator, oldest first."""
    query = (
        select(MeetingRequest)
        .where(
            MeetingRequest.event_id == event.id,
            MeetingRequest.state == RequestState.REQUESTED,
        )
        .options(*_with_parties())
        .order_by(MeetingRequest.created_at, MeetingRequest.id)
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def accepted_requests(event: Event, page: int, per_page: int):
    """The event's accepted requests, oldest first, with their third party if any."""
    query = (
        select(MeetingRequest)
        .where(
            MeetingRequest.event_id == event.id,
            MeetingRequest.state == RequestState.ACCEPTED,
        )
        .options(
            *_with_parties(), selectinload(MeetingRequest.third).selectinload(Participant.profile)
        )
        .order_by(MeetingRequest.created_at, MeetingRequest.id)
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def unanswered_for_unowned(event: Event) -> list[MeetingRequest]:
    """Requests waiting for the answer of a profile no account owns: staff answer them."""
    rows = db.session.scalars(
        select(MeetingRequest)
        .join(MeetingRequest.recipient)
        .join(Participant.profile)
        .where(
            MeetingRequest.event_id == event.id,
            MeetingRequest.state.in_(OPEN_STATES),
            Profile.owner_id.is_(None),
        )
        .options(*_with_parties())
        .order_by(MeetingRequest.created_at, MeetingRequest.id)
    )
    return [request for request in rows if waits_for_answer(request)]


def profile_ids_of(event: Event) -> list[int]:
    """The ids of the event's registered profiles."""
    return list(
        db.session.scalars(select(Participant.profile_id).where(Participant.event_id == event.id))
    )


def participants_by_profile(event: Event, profile_ids: Iterable[int]) -> dict[int, Participant]:
    """The event's participants for these profiles, by profile id."""
    rows = db.session.scalars(
        select(Participant)
        .where(Participant.event_id == event.id, Participant.profile_id.in_(list(profile_ids)))
        .options(selectinload(Participant.profile))
    )
    return {row.profile_id: row for row in rows}


# --- meetings of three -----------------------------------------------------------------------


def check_third(event: Event, parties: list[Participant], third: Participant, actor: User) -> None:
    """Refuse a third party that is not a registered participant of the event, is one of
    the two, was marked "no thanks" by one of them (or marked one so), or attends none of
    the sessions both attend."""
    if not actor.is_staff:
        raise EventError(N_("Only a coordinator adds a third party to a meeting."))
    if third.event_id != event.id:
        raise EventError(N_("%(name)s is not registered for this event."), name=third.profile.name)
    if third.id in {party.id for party in parties}:
        raise EventError(N_("%(name)s is in this meeting already."), name=third.profile.name)
    for party in parties:
        if ruled_out(party, third):
            raise EventError(
                N_("One of %(name)s and %(other)s marked the other “no thanks”: they do not meet."),
                name=third.profile.name,
                other=party.profile.name,
            )
    shared = set.intersection(*({s.id for s in party.sessions} for party in parties))
    if not shared & {session.id for session in third.sessions}:
        raise EventError(
            N_("%(name)s attends none of the sessions the other two attend."),
            name=third.profile.name,
        )


def add_third_to_request(request: MeetingRequest, third: Participant, actor: User) -> None:
    """A coordinator adds a third party to a request: the meeting it becomes seats three.
    All three are told."""
    if request.state is RequestState.DECLINED:
        raise EventError(N_("This request was declined: there is no meeting to join."))
    if request.third_participant_id is not None:
        raise EventError(N_("This request has a third party already."))
    check_third(request.event, [request.sender, request.recipient], third, actor)
    request.third = third
    db.session.flush()
    notify(
        people(request.sender, request.recipient, third),
        N_("%(third)s joins the meeting of %(sender)s and %(recipient)s at %(event)s."),
        {**_request_values(request), "third": third.profile.name},
        link=meetings_path(request.event),
    )
