"""The introduction workflow: named transitions that check the state and the actor's role.

Services flush and commit nothing; the caller commits once, then tells people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from partnermatch import presentation
from partnermatch.auth.models import Role, User
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.matching.recommend import Recommendation
from partnermatch.notifications.services import coordinators, notify
from partnermatch.profiles.models import Profile, ProfileSector
from partnermatch.reference import N_, ProfileKind
from partnermatch.review.models import (
    CLOSED_STATES,
    OUTCOMES,
    Match,
    MatchEvent,
    MatchMessage,
    MatchMessageRead,
    MatchOrigin,
    MatchState,
    Response,
)

MAX_NOTE = 2000
MAX_MESSAGE = 4000
MESSAGES_PER_PAGE = 50
# Outcomes that close a match; a coordinator's "meeting held" leaves it open for the parties.
CLOSING_OUTCOMES = (MatchState.PARTNERSHIP_FORMED.value, MatchState.NO_FIT.value)


class TransitionError(Exception):
    """A workflow step that the match's state or the actor's role does not allow.

    `message` is a catalogue message (marked with N_) with %(name)s fields from `values`; a
    field ending in "_label" is a vocabulary label. Pages show it in the reader's language
    (partnermatch.notifications.models.render_message); str() of the error is in English.
    """

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values if values else message)
        self.message = message
        self.values = values


# --- who is who ------------------------------------------------------------------------------


def side_of(match: Match, user: User | Any) -> str | None:
    """Return "sme" or "partner" when the user owns that side's profile, else None."""
    profile = getattr(user, "profile", None) if getattr(user, "is_authenticated", False) else None
    if profile is None:
        return None
    if profile.id == match.sme_profile_id:
        return "sme"
    if profile.id == match.partner_profile_id:
        return "partner"
    return None


# Before approval a match is the coordinators' business: a cohort suggestion waiting for
# review (or turned down) was never sent to anyone, and a partner hears of an SME's request
# only once a coordinator approves it. The SME sees its own request from the start.
UNSENT_STATES = (MatchState.SUGGESTED, MatchState.REJECTED)
# Actions whose notes are the coordinators' own (an approval's or a rejection's reasons).
STAFF_NOTE_ACTIONS = ("approve", "reject")


def sent_to(match: Match, side: str) -> bool:
    """Tell whether a match has reached this side ("sme" or "partner") in its present state."""
    if match.state not in UNSENT_STATES:
        return True
    return side == "sme" and match.origin is MatchOrigin.REQUESTED


def can_view(match: Match, user: User | Any) -> bool:
    """Staff see every match; each party sees its own once it was sent to them."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff:
        return True
    side = side_of(match, user)
    return side is not None and sent_to(match, side)


def history_for(match: Match, user: User | Any) -> list[tuple[MatchEvent, str]]:
    """Return the match's events with the note each shows to this user: coordinators' review
    notes are for the programme's staff only."""
    staff = getattr(user, "is_staff", False)
    return [
        (event, event.note if staff or event.action not in STAFF_NOTE_ACTIONS else "")
        for event in match.events
    ]


def can_see_contacts(match: Match, user: User | Any) -> bool:
    """A party sees the other's contact details only once both have accepted."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or (side_of(match, user) is not None and match.contacts_shared)


def answering_sides(match: Match, user: User) -> list[str]:
    """The sides a user may answer for: their own, or (staff) a side no account owns."""
    own = side_of(match, user)
    if own:
        return [own]
    if user.is_staff:
        return [
            side
            for side, profile in (("sme", match.sme), ("partner", match.partner))
            if profile.owner_id is None
        ]
    return []


def available_actions(match: Match, user: User | Any) -> set[str]:
    """Return what this user may do to this match now: approve, reject, respond, outcome."""
    if not can_view(match, user):
        return set()
    actions: set[str] = set()
    if match.state is MatchState.SUGGESTED and user.is_staff:
        actions |= {"approve", "reject"}
    if match.state is MatchState.APPROVED and any(
        _response(match, side) is Response.PENDING for side in answering_sides(match, user)
    ):
        actions.add("respond")
    if match.state in (MatchState.INTRODUCED, MatchState.MEETING_HELD):
        actions.add("outcome")
    return actions


def _response(match: Match, side: str) -> Response:
    return match.sme_response if side == "sme" else match.partner_response


def party(match: Match, side: str) -> Profile:
    """Return the profile on this side ("sme" or "partner") of a match."""
    return match.sme if side == "sme" else match.partner


def other_side(side: str) -> str:
    """Return the side across from this one."""
    return "partner" if side == "sme" else "sme"


def unreachable_sides(match: Match) -> list[str]:
    """The sides whose profile gives no contact email: they cannot accept an introduction,
    since accepting is agreeing to share one."""
    return [side for side in ("sme", "partner") if not party(match, side).contact_email.strip()]


# --- transitions -----------------------------------------------------------------------------


def _note(note: str | None) -> str:
    try:
        note = clean_text(note, "note")
    except ValidationError as error:
        raise TransitionError(error.message) from None
    if len(note) > MAX_NOTE:
        raise TransitionError(N_("Keep the note under %(limit)s characters."), limit=str(MAX_NOTE))
    return note


def _record(
    match: Match, actor: User | None, action: str, before: MatchState | None, note: str = ""
) -> None:
    match.events.append(
        MatchEvent(
            actor=actor,
            action=action,
            from_state=before.value if before else None,
            to_state=match.state.value,
            note=note,
        )
    )


def _require(match: Match, *states: MatchState, refusal: str, **values: str) -> None:
    """Refuse a step unless the match is at one of `states`; `refusal` says why."""
    if match.state not in states:
        raise TransitionError(refusal, state_label=match.state.label, **values)


def find_open_match(sme: Profile, partner: Profile) -> Match | None:
    """Return the open match between these two profiles, if there is one."""
    return db.session.scalar(
        select(Match).where(
            Match.sme_profile_id == sme.id,
            Match.partner_profile_id == partner.id,
            Match.state.not_in(CLOSED_STATES),
        )
    )


def closed_pairs(sme_ids: Sequence[int]) -> set[tuple[int, int]]:
    """Return the (SME, partner) pairs that were rejected or declined: never suggested again."""
    rows = db.session.execute(
        select(Match.sme_profile_id, Match.partner_profile_id).where(
            Match.sme_profile_id.in_(sme_ids),
            Match.state.in_((MatchState.REJECTED, MatchState.DECLINED)),
        )
    )
    return {(sme, partner) for sme, partner in rows}


def _pair(match: Match) -> dict[str, str]:
    return {"sme": match.sme.name, "partner": match.partner.name}


def factors_json(recommendation: Recommendation) -> list[dict[str, Any]]:
    """Return a recommendation's factors as stored on a match (values kept for learning)."""
    perspective = presentation.perspective_of(recommendation, None)
    return [
        {
            "label": presentation.factor_label(
                factor.feature, perspective, has_needs=recommendation.has_needs
            ),
            "contribution": round(factor.contribution, 4),
            "detail": presentation.factor_detail(factor),
            "detail_message": factor.detail_message,
            "detail_values": dict(factor.detail_values),
            "value": round(factor.value, 4),
            "feature": factor.feature,
        }
        for factor in recommendation.factors
    ]


def request_introduction(
    requester: User,
    partner: Profile,
    note: str = "",
    explanation: Recommendation | None = None,
) -> Match:
    """An SME asks to be introduced to a partner; the request waits for a coordinator."""
    sme = requester.profile
    if (
        requester.role is not Role.SME
        or sme is None
        or sme.kind is not ProfileKind.SME
        or sme.is_deleted
    ):
        raise TransitionError(N_("Only an SME with a profile can ask for an introduction."))
    if partner.id == sme.id:
        raise TransitionError(N_("You cannot ask to be introduced to yourself."))
    existing = find_open_match(sme, partner)
    if existing is not None:
        raise TransitionError(
            N_("You already have a match with %(name)s (stage: %(state_label)s)."),
            name=partner.name,
            state_label=existing.state.label,
        )
    if (sme.id, partner.id) in closed_pairs([sme.id]):
        raise TransitionError(
            N_("An introduction to %(name)s was not approved or was declined before."),
            name=partner.name,
        )
    match = Match(
        sme=sme,
        partner=partner,
        state=MatchState.SUGGESTED,
        origin=MatchOrigin.REQUESTED,
        score=explanation.score if explanation else None,
        factors=factors_json(explanation) if explanation else [],
        request_note=_note(note),
        created_by=requester,
    )
    db.session.add(match)
    _record(match, requester, "request", None, match.request_note)
    db.session.flush()
    notify(
        coordinators(),
        N_("%(sme)s asks to be introduced to %(partner)s."),
        {"sme": sme.name, "partner": partner.name},
        match_id=match.id,
        link=match_path(match),
    )
    return match


def approve(match: Match, actor: User, note: str = "") -> None:
    """A coordinator approves: the introduction goes to both parties for their consent."""
    _staff_only(actor)
    _require(
        match,
        MatchState.SUGGESTED,
        refusal=N_("This match is at the stage “%(state_label)s”: it cannot be approved now."),
    )
    match.state = MatchState.APPROVED
    _record(match, actor, "approve", MatchState.SUGGESTED, _note(note))
    db.session.flush()
    notify(
        _owners(match),
        N_(
            "A coordinator proposes an introduction between %(sme)s and %(partner)s. "
            "Please accept or decline it."
        ),
        _pair(match),
        match_id=match.id,
        link=match_path(match),
    )


def reject(match: Match, actor: User, note: str = "") -> None:
    """A coordinator turns a suggestion down; the pair is not suggested again."""
    _staff_only(actor)
    _require(
        match,
        MatchState.SUGGESTED,
        refusal=N_("This match is at the stage “%(state_label)s”: it cannot be rejected now."),
    )
    match.state = MatchState.REJECTED
    _record(match, actor, "reject", MatchState.SUGGESTED, _note(note))
    db.session.flush()
    if match.origin is MatchOrigin.REQUESTED:
        notify(
            [match.sme.owner],
            N_("Your request to meet %(partner)s was not approved."),
            {"partner": match.partner.name},
            match_id=match.id,
            link=match_path(match),
        )


def respond(
    match: Match, actor: User, accept: bool, reason: str = "", side: str | None = None
) -> None:
    """A party accepts or declines an introduction; both accepting introduces them."""
    _require(
        match,
        MatchState.APPROVED,
        refusal=N_("This match is at the stage “%(state_label)s”: it cannot be answered now."),
    )
    sides = answering_sides(match, actor)
    if side is None and len(sides) == 1:
        side = sides[0]
    if side not in sides:
        raise TransitionError(N_("Only the two parties can answer an introduction."))
    if _response(match, side) is not Response.PENDING:
        raise TransitionError(N_("This side has already answered."))
    if accept and side in unreachable_sides(match):
        raise TransitionError(
            N_(
                "Add a contact email to the profile of %(name)s before accepting: "
                "it is what the other party receives once both accept."
            ),
            name=party(match, side).name,
        )
    answer = Response.ACCEPTED if accept else Response.DECLINED
    if side == "sme":
        match.sme_response = answer
    else:
        match.partner_response = answer
    on_behalf = "" if side_of(match, actor) else f" (on behalf of the {side})"
    answering = match.sme if side == "sme" else match.partner
    if not accept:
        match.state = MatchState.DECLINED
        _record(match, actor, f"decline{on_behalf}", MatchState.APPROVED, _note(reason))
        notify(
            [*_owners(match), *coordinators()],
            N_("%(answering)s declined the introduction between %(sme)s and %(partner)s."),
            {"answering": answering.name, **_pair(match)},
            match_id=match.id,
            link=match_path(match),
        )
    elif match.sme_response is Response.ACCEPTED and match.partner_response is Response.ACCEPTED:
        match.state = MatchState.INTRODUCED
        _record(match, actor, f"accept{on_behalf}", MatchState.APPROVED, _note(reason))
        notify(
            [*_owners(match), *coordinators()],
            N_(
                "%(sme)s and %(partner)s are introduced: both accepted. "
                "Each can now see the other's contact details on the match page."
            ),
            _pair(match),
            match_id=match.id,
            link=match_path(match),
        )
    else:
        _record(match, actor, f"accept{on_behalf}", MatchState.APPROVED, _note(reason))
    db.session.flush()


def party_outcome(match: Match, side: str) -> MatchState | None:
    """Return how this side says the introduction went, or None before it answers."""
    value = match.sme_outcome if side == "sme" else match.partner_outcome
    return MatchState(value) if value else None


def combined_outcome(match: Match) -> MatchState:
    """Return the state the outcome answers give a match that was introduced.

    1. A coordinator's closing outcome (partnership formed, no fit) wins.
    2. Otherwise the parties' answers, when every party with an account has answered and
       they agree (when one side has no account, the other side's answer alone).
    3. Otherwise (one answer so far, answers that differ, or a coordinator's "meeting held")
       the match stands at "meeting held" when anyone says the two met (a meeting held or a
       partnership formed): that much the stories share. It stays open, so a party may
       revise its answer and coordinators see it among the introductions to settle.
    4. Otherwise (nothing said yet, or only "no fit" from one side) it stays introduced.
    So a match closes only when both parties or a coordinator say so; the dashboard, which
    counts states, counts exactly these.
    """
    if match.staff_outcome in CLOSING_OUTCOMES:
        return MatchState(match.staff_outcome)
    answers = [answer for answer in (match.sme_outcome, match.partner_outcome) if answer]
    expected = sum(1 for side in ("sme", "partner") if party(match, side).owner_id is not None)
    if answers and len(answers) >= expected and len(set(answers)) == 1:
        return MatchState(answers[0])
    if match.staff_outcome or any(answer != MatchState.NO_FIT.value for answer in answers):
        return MatchState.MEETING_HELD
    return MatchState.INTRODUCED


def record_outcome(
    match: Match,
    actor: User,
    outcome: MatchState | str,
    note: str = "",
    *,
    for_side: str | None = None,
) -> None:
    """A party answers how the introduction went, or a coordinator records the outcome.

    `for_side` ("sme", "partner") records a side's answer given elsewhere, whose giver was
    checked there (feedback after an event's meeting, events/feedback.py).

    A party may answer, and change its answer, while the match is open (introduced or
    meeting held); a coordinator's closing outcome overrides the parties' (see
    combined_outcome) and may be recorded from introduced or meeting held, a meeting only
    from introduced. The other party is asked for its answer; coordinators (and the parties
    not told already) hear when the state changes.
    """
    try:
        outcome = MatchState(outcome)
    except ValueError:
        outcome = None
    if outcome not in OUTCOMES:
        raise TransitionError(N_("Record a meeting held, a partnership formed or no fit."))
    side = for_side or side_of(match, actor)
    if not (actor.is_staff or side):
        raise TransitionError(N_("Only the two parties or a coordinator can record an outcome."))
    note = _note(note)
    before = match.state
    if side:
        _require(
            match,
            MatchState.INTRODUCED,
            MatchState.MEETING_HELD,
            refusal=N_(
                "This match is at the stage “%(state_label)s”: "
                "it cannot be recorded as “%(outcome_label)s” now."
            ),
            outcome_label=outcome.label,
        )
        if side == "sme":
            match.sme_outcome = outcome.value
        else:
            match.partner_outcome = outcome.value
        action = f"outcome {side}: {outcome.value}"
    else:
        allowed = (
            (MatchState.INTRODUCED,)
            if outcome is MatchState.MEETING_HELD
            else (MatchState.INTRODUCED, MatchState.MEETING_HELD)
        )
        _require(
            match,
            *allowed,
            refusal=N_(
                "This match is at the stage “%(state_label)s”: "
                "it cannot be recorded as “%(outcome_label)s” now."
            ),
            outcome_label=outcome.label,
        )
        match.staff_outcome = outcome.value
        action = f"outcome staff: {outcome.value}"
    match.state = combined_outcome(match)
    _record(match, actor, action, before, note)
    db.session.flush()
    if side:
        other = other_side(side)
        notify(
            [party(match, other).owner],
            N_(
                "%(answering)s says the introduction between %(sme)s and %(partner)s went: "
                "%(outcome_label)s. Please record how it went for you."
            )
            if party_outcome(match, other) is None
            else N_(
                "%(answering)s says the introduction between %(sme)s and %(partner)s went: "
                "%(outcome_label)s."
            ),
            {"answering": party(match, side).name, **_pair(match), "outcome_label": outcome.label},
            match_id=match.id,
            link=match_path(match),
        )
    if match.state is not before:
        told = party(match, other_side(side)).owner if side else None
        notify(
            [owner for owner in _owners(match) if owner is not told] + coordinators(),
            N_("%(sme)s and %(partner)s: %(outcome_label)s."),
            {**_pair(match), "outcome_label": match.state.label},
            match_id=match.id,
            link=match_path(match),
        )


def outcome_waiting_for(user: User | Any) -> list[Match]:
    """The introductions whose outcome waits for this member's answer, oldest first (for My
    introductions and the home page: still open, no answer from their side yet)."""
    profile = getattr(user, "profile", None) if getattr(user, "is_authenticated", False) else None
    if profile is None:
        return []
    open_states = (MatchState.INTRODUCED, MatchState.MEETING_HELD)
    return list(
        db.session.scalars(
            select(Match)
            .where(
                Match.state.in_(open_states),
                or_(
                    (Match.sme_profile_id == profile.id) & Match.sme_outcome.is_(None),
                    (Match.partner_profile_id == profile.id) & Match.partner_outcome.is_(None),
                ),
            )
            .options(*_with_parties())
            .order_by(Match.updated_at, Match.id)
        )
    )


# --- messages between the two parties --------------------------------------------------------


def can_read_messages(match: Match, user: User | Any) -> bool:
    """The thread follows the consent rule: the parties read it once both accepted (when
    contacts are shared); coordinators, who oversee every match, read it too."""
    if not can_view(match, user) or not match.contacts_shared:
        return False
    return user.is_staff or side_of(match, user) is not None


def can_post_message(match: Match, user: User | Any) -> bool:
    """Only the two parties write, from the introduction on (after an outcome too: a
    partnership has more to say). Coordinators read without writing: the thread is the
    parties' conversation, and a coordinator's word belongs in the match's notes."""
    return can_read_messages(match, user) and side_of(match, user) is not None


def messages_page(match: Match, page: int, per_page: int = MESSAGES_PER_PAGE) -> Pagination:
    """Return a page of a match's thread: page 1 holds the latest messages, each page's
    items newest first (the template shows them oldest first)."""
    query = (
        select(MatchMessage)
        .where(MatchMessage.match_id == match.id)
        .options(selectinload(MatchMessage.author))
        .order_by(MatchMessage.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def post_message(match: Match, author: User, body: str | None) -> MatchMessage:
    """A party writes to the other, who hears of it when it is the first message they have
    not read yet (one notification and one email until they open the thread, not one per
    message). Neither carries the text: a notification never carries what could be a
    contact detail."""
    if not can_post_message(match, author):
        raise TransitionError(
            N_("Only the two parties can write here, once both have accepted the introduction.")
        )
    try:
        body = clean_text(body, "body")
    except ValidationError as error:
        raise TransitionError(error.message) from None
    if not body:
        raise TransitionError(N_("Write a message first."))
    if len(body) > MAX_MESSAGE:
        raise TransitionError(
            N_("Keep the message under %(limit)s characters."), limit=str(MAX_MESSAGE)
        )
    side = side_of(match, author)
    recipient = party(match, other_side(side)).owner
    already_waiting = recipient is not None and unread_messages(recipient).get(match.id, 0) > 0
    message = MatchMessage(match_id=match.id, author=author, side=side, body=body)
    db.session.add(message)
    db.session.flush()
    mark_messages_read(match, author)
    if not already_waiting:
        notify(
            [recipient],
            N_("New message from %(author)s about your introduction."),
            {"author": party(match, side).name},
            match_id=match.id,
            link=match_path(match) + "#messages",
        )
    return message


def mark_messages_read(match: Match, user: User) -> None:
    """Record that the user has seen the thread up to its latest message."""
    latest = db.session.scalar(
        select(func.max(MatchMessage.id)).where(MatchMessage.match_id == match.id)
    )
    if latest is None:
        return
    state = db.session.get(MatchMessageRead, (match.id, user.id))
    if state is None:
        db.session.add(MatchMessageRead(match_id=match.id, user_id=user.id, last_read_id=latest))
    elif state.last_read_id < latest:
        state.last_read_id = latest
    db.session.flush()


def unread_messages(user: User | Any) -> dict[int, int]:
    """Return, by match id, how many messages from the other party this member has not read
    (matches with none unread are left out; for My introductions and the home page)."""
    profile = getattr(user, "profile", None) if getattr(user, "is_authenticated", False) else None
    if profile is None:
        return {}
    read_up_to = func.coalesce(MatchMessageRead.last_read_id, 0)
    rows = db.session.execute(
        select(MatchMessage.match_id, func.count(MatchMessage.id))
        .join(Match, Match.id == MatchMessage.match_id)
        .outerjoin(
            MatchMessageRead,
            (MatchMessageRead.match_id == MatchMessage.match_id)
            & (MatchMessageRead.user_id == user.id),
        )
        .where(
            # Messages the other side wrote (by side, not author: an author's account may
            # be gone, and the thread is between profiles).
            or_(
                (Match.sme_profile_id == profile.id) & (MatchMessage.side == "partner"),
                (Match.partner_profile_id == profile.id) & (MatchMessage.side == "sme"),
            ),
            MatchMessage.id > read_up_to,
        )
        .group_by(MatchMessage.match_id)
    )
    return {match_id: count for match_id, count in rows}  # noqa: C416 (rows, not pairs)


def matches_with_unread_messages(user: User | Any) -> list[tuple[Match, int]]:
    """The member's introductions with unread messages and how many, latest activity first
    (for the home page)."""
    counts = unread_messages(user)
    if not counts:
        return []
    matches = db.session.scalars(
        select(Match)
        .where(Match.id.in_(counts))
        .options(*_with_parties())
        .order_by(Match.updated_at.desc(), Match.id.desc())
    )
    return [(match, counts[match.id]) for match in matches]


def _owners(match: Match) -> list[User | None]:
    return [match.sme.owner, match.partner.owner]


def match_path(match: Match) -> str:
    """Return the site path of a match page (messages are written outside any request)."""
    return f"/matches/{match.id}"


def _staff_only(actor: User) -> None:
    if not actor.is_staff:
        raise TransitionError(N_("Only a programme coordinator can review a suggested match."))


# --- lists -----------------------------------------------------------------------------------


def _with_parties():
    return (
        selectinload(Match.sme).selectinload(Profile.organisation),
        selectinload(Match.partner).selectinload(Profile.organisation),
    )


def review_queue(
    states: Sequence[MatchState],
    page: int,
    per_page: int,
    *,
    origin: MatchOrigin | None = None,
    sme_economy: str | None = None,
    sme_sector: str | None = None,
) -> Pagination:
    """Matches in these states, oldest first: what coordinators work through."""
    query = (
        select(Match)
        .where(Match.state.in_(states))
        .options(*_with_parties())
        .order_by(Match.created_at, Match.id)
    )
    if origin is not None:
        query = query.where(Match.origin == origin)
    if sme_economy:
        query = query.where(Match.sme.has(Profile.economy == sme_economy))
    if sme_sector:
        query = query.where(
            Match.sme.has(Profile.sector_rows.any(ProfileSector.code == sme_sector))
        )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def matches_of(profile: Profile) -> list[Match]:
    """A profile's matches that have reached it (approved or later), newest first."""
    return list(
        db.session.scalars(
            select(Match)
            .where(
                or_(Match.sme_profile_id == profile.id, Match.partner_profile_id == profile.id),
                Match.state.not_in((MatchState.SUGGESTED, MatchState.REJECTED)),
            )
            .options(*_with_parties())
            .order_by(Match.updated_at.desc(), Match.id.desc())
        )
    )


def requests_of(profile: Profile) -> list[Match]:
    """An SME's own requests still waiting for a coordinator (cohort suggestions are not
    theirs to see until approved: see sent_to)."""
    return list(
        db.session.scalars(
            select(Match)
            .where(
                Match.sme_profile_id == profile.id,
                Match.state == MatchState.SUGGESTED,
                Match.origin == MatchOrigin.REQUESTED,
            )
            .options(*_with_parties())
            .order_by(Match.created_at.desc())
        )
    )


# --- where the partner appears ---------------------------------------------------------------

# What an SME reads beside a partner it already has an open match with (translated where
# shown), instead of "Ask for an introduction".
REQUESTED = N_("Requested, waiting for review")
WAITING_FOR_YOU = N_("Waiting for your answer")
WAITING_FOR_THEM = N_("Waiting for their answer")
INTRODUCED = N_("Introduced")


def state_for_sme(match: Match) -> str:
    """Word an open match's stage for the SME, whose partner it is."""
    if match.state is MatchState.SUGGESTED:
        return REQUESTED
    if match.state is MatchState.APPROVED:
        return WAITING_FOR_YOU if match.sme_response is Response.PENDING else WAITING_FOR_THEM
    return INTRODUCED


@dataclass(frozen=True)
class OpenMatch:
    """An SME's open match as shown beside the partner: its page and its stage in words."""

    id: int
    state: MatchState
    label: str  # English; translated where shown


def sme_matches_by_partner(user: User | Any) -> dict[int, OpenMatch]:
    """The open matches an SME account can see, by partner profile id (empty for others)."""
    profile = getattr(user, "profile", None) if getattr(user, "is_authenticated", False) else None
    if profile is None or profile.kind is not ProfileKind.SME:
        return {}
    matches = db.session.scalars(
        select(Match).where(Match.sme_profile_id == profile.id, Match.state.not_in(CLOSED_STATES))
    )
    return {
        match.partner_profile_id: OpenMatch(match.id, match.state, state_for_sme(match))
        for match in matches
        if sent_to(match, "sme")
    }


def matched_profile_ids(profile: Profile) -> set[int]:
    """The profiles this one already has a match with, open or turned down: not to be
    recommended to it again (introductions that ended in an outcome may come back)."""
    rows = db.session.execute(
        select(Match.sme_profile_id, Match.partner_profile_id).where(
            or_(Match.sme_profile_id == profile.id, Match.partner_profile_id == profile.id),
            Match.state.not_in((MatchState.PARTNERSHIP_FORMED, MatchState.NO_FIT)),
        )
    )
    return {other for pair in rows for other in pair if other != profile.id}
