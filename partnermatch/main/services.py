"""What each home page shows next: the coordinator's follow-up and a member's own steps.

Each panel is one query or a fixed few, whatever the programme's size. Messages are English
catalogue strings (N_), translated where they are shown or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_, select
from sqlalchemy.orm import aliased, selectinload

from partnermatch.auth.models import User
from partnermatch.events.models import Meeting, MeetingState, Participant
from partnermatch.extensions import db
from partnermatch.notifications.services import notify
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import live
from partnermatch.reference import N_
from partnermatch.review import services as review
from partnermatch.review.models import (
    CLOSED_STATES,
    OUTCOMES,
    Match,
    MatchEvent,
    MatchOrigin,
    MatchState,
    Response,
)

SHOWN = 5  # items listed in each panel before its "see all" link
STALE_AFTER = timedelta(days=365)
WEEK = timedelta(days=7)
# However long an introduction has waited, its parties are reminded at most once a day.
REMIND_AGAIN_AFTER = timedelta(days=1)
REMIND_ACTION = "remind"

# --- a member's profile: how complete, and what raises it most ----------------------------


@dataclass(frozen=True)
class Step:
    """One thing to add to a profile: what (English, translated where shown), how many
    points it adds, and the field of the edit form that adds it (None: the evidence form)."""

    code: str
    label: str
    points: int
    field: str | None


# What a complete profile has, and the share of the score each part is worth (sums to 100).
# Evidence and value-chain positions weigh most: they are what recommendations read first.
STEPS = (
    Step("evidence", N_("add evidence: a publication, project or patent"), 20, None),
    Step("value_chain", N_("add value-chain positions"), 15, "value_chain-0"),
    Step("summary", N_("write a summary"), 15, "summary"),
    Step("sectors", N_("choose sectors"), 10, "sectors-0"),
    Step("offers", N_("say what you offer"), 10, "offers"),
    Step("needs", N_("say what you need"), 10, "needs"),
    Step("contact_email", N_("give a contact email"), 10, "contact_email"),
    Step("keywords", N_("add keywords"), 5, "keywords"),
    Step("city", N_("give your city"), 5, "city"),
)


@dataclass(frozen=True)
class Completeness:
    score: int  # 0-100 %
    steps: list[Step]  # what is missing, the steps that raise the score most first


def _has(profile: Profile, code: str) -> bool:
    if code == "evidence":
        return bool(profile.evidence)
    if code == "sectors":
        return bool(profile.sector_rows)
    if code == "value_chain":
        return bool(profile.value_chain_rows)
    if code == "keywords":
        return bool(profile.keywords)
    return bool((getattr(profile, code) or "").strip())


def completeness(profile: Profile) -> Completeness:
    """Score a profile 0-100 % and list the missing steps, the most valuable first."""
    missing = [step for step in STEPS if not _has(profile, step.code)]
    score = 100 - sum(step.points for step in missing)
    return Completeness(score, sorted(missing, key=lambda step: -step.points))


# --- a member's introductions -------------------------------------------------------------


@dataclass(frozen=True)
class MemberMatch:
    """One of a member's open matches: the other party and its stage in words (English)."""

    match: Match
    other: Profile
    label: str


@dataclass(frozen=True)
class MemberHome:
    to_answer: list[MemberMatch]  # introductions waiting for this member's answer
    in_progress: list[MemberMatch]  # requests and introductions waiting for somebody else


def _stage_for(match: Match, side: str) -> str:
    if match.state is MatchState.SUGGESTED:
        return review.REQUESTED
    if match.state is MatchState.APPROVED:
        own = match.sme_response if side == "sme" else match.partner_response
        return review.WAITING_FOR_YOU if own is Response.PENDING else review.WAITING_FOR_THEM
    return match.state.label


def member_home(profile: Profile) -> MemberHome:
    """A member's open matches that have reached them: those waiting for their answer, and
    their requests and introductions under way (a cohort suggestion no coordinator has
    approved is not theirs to see)."""
    matches = db.session.scalars(
        select(Match)
        .where(
            or_(Match.sme_profile_id == profile.id, Match.partner_profile_id == profile.id),
            Match.state.not_in(CLOSED_STATES),
        )
        .options(selectinload(Match.sme), selectinload(Match.partner))
        .order_by(Match.updated_at.desc(), Match.id.desc())
    )
    to_answer, in_progress = [], []
    for match in matches:
        side = "sme" if match.sme_profile_id == profile.id else "partner"
        if not review.sent_to(match, side):
            continue
        item = MemberMatch(
            match, match.partner if side == "sme" else match.sme, _stage_for(match, side)
        )
        (to_answer if item.label == review.WAITING_FOR_YOU else in_progress).append(item)
    return MemberHome(to_answer=to_answer, in_progress=in_progress)


# --- the coordinator's follow-up ----------------------------------------------------------


@dataclass(frozen=True)
class Unanswered:
    """An introduction still waiting for an answer, and how it was followed up."""

    match: Match
    waiting_since: datetime
    waiting_for: list[Profile]  # the parties who have not answered
    last_reminder: datetime | None
    reachable: bool  # one of them at least has an active account to remind
    can_remind: bool  # reachable, and not reminded in the last day


@dataclass(frozen=True)
class WeekFigure:
    label: str  # English; translated where shown
    this_week: int
    last_week: int


@dataclass(frozen=True)
class CoordinatorHome:
    review_count: int
    review_first: list[Match]
    unanswered: list[Unanswered]
    unanswered_count: int
    past_meetings: list[Meeting]
    past_meetings_count: int
    incomplete_profiles: int
    stale_profiles: int
    week: list[WeekFigure]


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes: they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _last_event(action: str, label: str):
    return (
        select(MatchEvent.match_id, func.max(MatchEvent.created_at).label(label))
        .where(MatchEvent.action == action)
        .group_by(MatchEvent.match_id)
        .subquery()
    )


def _waiting_parties(match: Match) -> list[Profile]:
    return [
        review.party(match, side)
        for side in ("sme", "partner")
        if (match.sme_response if side == "sme" else match.partner_response) is Response.PENDING
    ]


def _reminded(parties: list[Profile]) -> list[User]:
    return [party.owner for party in parties if party.owner is not None and party.owner.active]


def unanswered_introductions(
    now: datetime, after_days: int, limit: int | None = SHOWN
) -> tuple[list[Unanswered], int]:
    """Introductions sent to the parties more than `after_days` ago and not answered by both,
    the longest waiting first, each with its last reminder; and how many there are in all."""
    approved = _last_event("approve", "at")
    reminders = _last_event(REMIND_ACTION, "last")
    since = func.coalesce(approved.c.at, Match.created_at)
    query = (
        select(Match, since.label("since"), reminders.c.last)
        .outerjoin(approved, approved.c.match_id == Match.id)
        .outerjoin(reminders, reminders.c.match_id == Match.id)
        .where(Match.state == MatchState.APPROVED, since < now - timedelta(days=after_days))
    )
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.options(
        selectinload(Match.sme).selectinload(Profile.owner),
        selectinload(Match.partner).selectinload(Profile.owner),
    ).order_by(since, Match.id)
    if limit is not None:
        query = query.limit(limit)
    items = []
    for match, waiting_since, last in db.session.execute(query).all():
        waiting_for = _waiting_parties(match)
        reachable = bool(_reminded(waiting_for))
        last = _aware(last) if last is not None else None
        items.append(
            Unanswered(
                match,
                _aware(waiting_since),
                waiting_for,
                last,
                reachable,
                reachable and (last is None or last <= now - REMIND_AGAIN_AFTER),
            )
        )
    return items, total


class ReminderRefused(Exception):
    """A reminder that cannot be sent now: the message (English) says why."""

    def __init__(self, message: str, values: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.values = values or {}


def send_reminder(match: Match, actor: User, now: datetime) -> int:
    """Remind the parties who have not answered an introduction, through the notifications
    and the outbox; at most once a day per introduction. Return how many were reminded."""
    if not actor.is_staff:
        raise ReminderRefused(N_("Only a programme coordinator can send reminders."))
    if match.state is not MatchState.APPROVED:
        raise ReminderRefused(N_("This introduction is not waiting for an answer."))
    last = db.session.scalar(
        select(func.max(MatchEvent.created_at)).where(
            MatchEvent.match_id == match.id, MatchEvent.action == REMIND_ACTION
        )
    )
    if last is not None and _aware(last) > now - REMIND_AGAIN_AFTER:
        raise ReminderRefused(
            N_("A reminder was already sent at %(when)s: one a day at most."),
            {"when": _aware(last)},
        )
    recipients = _reminded(_waiting_parties(match))
    if not recipients:
        raise ReminderRefused(
            N_(
                "Nobody to remind: the parties still to answer have no account. "
                "Answer on their behalf on the match page."
            )
        )
    match.events.append(
        MatchEvent(
            actor=actor,
            action=REMIND_ACTION,
            from_state=match.state.value,
            to_state=match.state.value,
            created_at=now,
        )
    )
    db.session.flush()
    return notify(
        recipients,
        N_(
            "Reminder: the introduction between %(sme)s and %(partner)s is waiting for your "
            "answer. Please accept or decline it."
        ),
        {"sme": match.sme.name, "partner": match.partner.name},
        match_id=match.id,
        link=review.match_path(match),
    )


def past_meetings_without_outcome(now: datetime, limit: int = SHOWN) -> tuple[list[Meeting], int]:
    """Published event meetings whose time has passed, not cancelled or missed, whose pair
    has no outcome recorded on an introduction; the most recent first, and how many."""
    first, second = aliased(Participant), aliased(Participant)
    outcome = exists().where(
        Match.state.in_(OUTCOMES),
        or_(
            and_(
                Match.sme_profile_id == first.profile_id,
                Match.partner_profile_id == second.profile_id,
            ),
            and_(
                Match.sme_profile_id == second.profile_id,
                Match.partner_profile_id == first.profile_id,
            ),
        ),
    )
    base = (
        select(Meeting)
        .join(first, Meeting.first_participant_id == first.id)
        .join(second, Meeting.second_participant_id == second.id)
        .where(
            Meeting.state == MeetingState.PUBLISHED,
            Meeting.cancelled.is_(False),
            Meeting.no_show.is_(False),
            Meeting.slot_start < now,
            not_(outcome),
        )
    )
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    meetings = list(
        db.session.scalars(
            base.options(
                selectinload(Meeting.event),
                selectinload(Meeting.first).selectinload(Participant.profile),
                selectinload(Meeting.second).selectinload(Participant.profile),
            )
            .order_by(Meeting.slot_start.desc(), Meeting.id)
            .limit(limit)
        )
    )
    return meetings, total


FOLLOW_UP_KINDS = ("incomplete", "stale")


def incomplete_condition() -> ColumnElement[bool]:
    """Profiles that lack sectors, value-chain positions or any description (what
    profiles.services.profile_missing says, in SQL)."""
    return or_(
        not_(Profile.sector_rows.any()),
        not_(Profile.value_chain_rows.any()),
        and_(Profile.summary == "", Profile.offers == "", Profile.needs == ""),
    )


def stale_condition(now: datetime) -> ColumnElement[bool]:
    """Profiles not updated for a year."""
    return Profile.updated_at < now - STALE_AFTER


def profiles_to_follow_up(which: str, now: datetime, page: int, per_page: int) -> Pagination:
    """The live profiles that are incomplete ("incomplete") or out of date ("stale"), the
    longest untouched first."""
    condition = incomplete_condition() if which == "incomplete" else stale_condition(now)
    query = (
        select(Profile)
        .where(live(), condition)
        .options(
            selectinload(Profile.owner),
            selectinload(Profile.sector_rows),
            selectinload(Profile.value_chain_rows),
        )
        .order_by(Profile.updated_at, Profile.id)
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def _two_weeks(column, now: datetime):
    this_start, last_start = now - WEEK, now - 2 * WEEK
    return (
        func.count(case((column >= this_start, 1))),
        func.count(case((and_(column >= last_start, column < this_start), 1))),
    )


def week_numbers(now: datetime) -> list[WeekFigure]:
    """New profiles, requests, introductions and outcomes in the last 7 days and the 7 before."""
    since = now - 2 * WEEK
    profiles = db.session.execute(
        select(*_two_weeks(Profile.created_at, now)).where(Profile.created_at >= since, live())
    ).one()
    requests = db.session.execute(
        select(*_two_weeks(Match.created_at, now)).where(
            Match.created_at >= since, Match.origin == MatchOrigin.REQUESTED
        )
    ).one()
    steps = db.session.execute(
        select(
            *_two_weeks(
                case((MatchEvent.to_state == MatchState.INTRODUCED.value, MatchEvent.created_at)),
                now,
            ),
            *_two_weeks(case((MatchEvent.action == "outcome", MatchEvent.created_at)), now),
        ).where(MatchEvent.created_at >= since)
    ).one()
    return [
        WeekFigure(N_("New profiles"), *profiles),
        WeekFigure(N_("Introduction requests"), *requests),
        WeekFigure(N_("Introductions made"), steps[0], steps[1]),
        WeekFigure(N_("Outcomes recorded"), steps[2], steps[3]),
    ]


def coordinator_home(now: datetime, after_days: int) -> CoordinatorHome:
    """Everything the coordinator's home shows, in a fixed number of statements."""
    waiting = review.review_queue([MatchState.SUGGESTED], page=1, per_page=SHOWN)
    unanswered, unanswered_count = unanswered_introductions(now, after_days)
    meetings, meetings_count = past_meetings_without_outcome(now)
    incomplete, stale = db.session.execute(
        select(
            func.count(case((incomplete_condition(), 1))),
            func.count(case((stale_condition(now), 1))),
        ).where(live())
    ).one()
    return CoordinatorHome(
        review_count=waiting.total or 0,
        review_first=list(waiting.items),
        unanswered=unanswered,
        unanswered_count=unanswered_count,
        past_meetings=meetings,
        past_meetings_count=meetings_count,
        incomplete_profiles=incomplete,
        stale_profiles=stale,
        week=week_numbers(now),
    )
