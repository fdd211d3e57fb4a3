"""Dashboard figures, computed in SQL from the profiles and matches. No HTTP here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from partnermatch import reference
from partnermatch.events import feedback
from partnermatch.events.models import Event
from partnermatch.extensions import db
from partnermatch.matching.explain import content_words
from partnermatch.profiles.models import Profile, ProfileSector, ProfileValueChain
from partnermatch.reference import N_, ProfileKind
from partnermatch.review.models import CONTACT_STATES, Match, MatchState, Response

# What the heatmap can show: matches suggested (all), introduced, or ending in a partnership.
PAIR_LEVELS: dict[str, tuple[str, tuple[MatchState, ...] | None]] = {
    "suggested": (N_("All matches"), None),
    "introduced": (N_("Introduced"), CONTACT_STATES),
    "partnered": (N_("Partnership formed"), (MatchState.PARTNERSHIP_FORMED,)),
}


# A deleted profile is hidden everywhere until it is restored or purged: the dashboard counts
# neither it nor the matches it is a party to.
LIVE = Profile.deleted_at.is_(None)


def _between_live_profiles():
    live = select(Profile.id).where(LIVE)
    return and_(Match.sme_profile_id.in_(live), Match.partner_profile_id.in_(live))


@dataclass(frozen=True)
class EconomyPairs:
    rows: list[str]  # SME economies
    columns: list[str]  # partner economies
    counts: dict[tuple[str, str], int]

    @property
    def maximum(self) -> int:
        return max(self.counts.values(), default=0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def economy_pairs(level: str = "suggested") -> EconomyPairs:
    """Count matches by (SME economy, partner economy) at a level of PAIR_LEVELS."""
    sme, partner = aliased(Profile), aliased(Profile)
    query = (
        select(sme.economy, partner.economy, func.count(Match.id))
        .join(sme, Match.sme_profile_id == sme.id)
        .join(partner, Match.partner_profile_id == partner.id)
        .where(sme.deleted_at.is_(None), partner.deleted_at.is_(None))
        .group_by(sme.economy, partner.economy)
    )
    states = PAIR_LEVELS[level][1]
    if states is not None:
        query = query.where(Match.state.in_(states))
    counts = {(row, column): count for row, column, count in db.session.execute(query)}
    by_name = lambda code: reference.economy_name(code)  # noqa: E731 - a sort key
    return EconomyPairs(
        rows=sorted({row for row, _ in counts}, key=by_name),
        columns=sorted({column for _, column in counts}, key=by_name),
        counts=counts,
    )


@dataclass(frozen=True)
class Coverage:
    code: str
    label: str
    needing: int  # SMEs whose needs name this position
    offering: int  # partners (experts and SMEs) working in it

    @property
    def gap(self) -> int:
        return max(self.needing - self.offering, 0)


def positions_named(text: str) -> set[str]:
    """Return the value-chain positions whose label a text names (all its content words)."""
    words = content_words(text)
    named = set()
    for term in reference.VALUE_CHAIN:
        label_words = content_words(term.label) - {"and"}
        if (label_words and label_words & words == label_words) or term.code in words:
            named.add(term.code)
    return named


def value_chain_coverage() -> list[Coverage]:
    """For each position: how many SMEs need it and how many profiles offer it."""
    needing: Counter[str] = Counter()
    for needs in db.session.scalars(
        select(Profile.needs).where(Profile.kind == ProfileKind.SME, LIVE)
    ):
        needing.update(positions_named(needs or ""))
    offering = dict(
        db.session.execute(
            select(ProfileValueChain.code, func.count())
            .join(Profile, Profile.id == ProfileValueChain.profile_id)
            .where(LIVE)
            .group_by(ProfileValueChain.code)
        ).all()
    )
    return [
        Coverage(term.code, term.label, needing[term.code], offering.get(term.code, 0))
        for term in reference.VALUE_CHAIN
    ]


@dataclass(frozen=True)
class Stage:
    label: str
    count: int


def funnel() -> list[Stage]:
    """Count matches reaching each stage: suggested, approved, accepted, introduced, partnership."""

    def count(*conditions) -> int:
        query = select(func.count(Match.id)).where(_between_live_profiles(), *conditions)
        return db.session.scalar(query) or 0

    return [
        Stage(N_("Suggested"), count()),
        Stage(
            N_("Approved"), count(Match.state.not_in((MatchState.SUGGESTED, MatchState.REJECTED)))
        ),
        Stage(
            N_("Accepted by a party"),
            count(
                or_(
                    Match.sme_response == Response.ACCEPTED,
                    Match.partner_response == Response.ACCEPTED,
                )
            ),
        ),
        Stage(N_("Introduced"), count(Match.state.in_(CONTACT_STATES))),
        Stage(N_("Partnership formed"), count(Match.state == MatchState.PARTNERSHIP_FORMED)),
    ]


@dataclass(frozen=True)
class SectorCount:
    code: str
    label: str
    smes: int
    experts: int


def sector_mix() -> list[SectorCount]:
    """Count SME and expert profiles per sector."""
    rows = db.session.execute(
        select(ProfileSector.code, Profile.kind, func.count())
        .join(Profile, Profile.id == ProfileSector.profile_id)
        .where(LIVE)
        .group_by(ProfileSector.code, Profile.kind)
    )
    counts = {(code, kind): number for code, kind, number in rows}
    return [
        SectorCount(
            term.code,
            term.label,
            counts.get((term.code, ProfileKind.SME), 0),
            counts.get((term.code, ProfileKind.EXPERT), 0),
        )
        for term in reference.SECTORS
    ]


@dataclass(frozen=True)
class DecisionRow:
    factor: str
    value: str
    decided: int  # approved or rejected by a coordinator
    approved: int
    answered: int  # introductions both parties answered, or one declined
    accepted: int  # both parties accepted

    @property
    def approval_rate(self) -> float | None:
        return self.approved / self.decided if self.decided else None

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.answered if self.answered else None


SCORE_BANDS = (
    (0.0, N_("below 0.40")),
    (0.40, N_("0.40 to 0.50")),
    (0.50, N_("0.50 to 0.60")),
    (0.60, N_("0.60 and above")),
)


def _score_band(score: float | None) -> str:
    if score is None:
        return N_("no score")
    return [label for floor, label in SCORE_BANDS if score >= floor][-1]


def _chain_relation(factors: list[dict]) -> str:
    contribution = next((f["contribution"] for f in factors if f["label"] == "Value chain"), None)
    if contribution is None:
        return N_("unknown")
    return (
        N_("complementary")
        if contribution >= 0.08
        else N_("related")
        if contribution >= 0.05
        else N_("same or distant")
    )


def decision_summary() -> list[DecisionRow]:
    """Approval and acceptance rates by factor: what coordinators' and parties' decisions say."""
    sme, partner = aliased(Profile), aliased(Profile)
    rows = db.session.execute(
        select(Match.state, Match.score, Match.factors, sme.economy, partner.economy)
        .join(sme, Match.sme_profile_id == sme.id)
        .join(partner, Match.partner_profile_id == partner.id)
        .where(
            Match.state != MatchState.SUGGESTED,
            sme.deleted_at.is_(None),
            partner.deleted_at.is_(None),
        )
    )
    tally: dict[tuple[str, str], list[int]] = {}
    for state, score, factors, sme_economy, partner_economy in rows:
        approved = state is not MatchState.REJECTED
        answered = state is MatchState.DECLINED or state in CONTACT_STATES
        accepted = state in CONTACT_STATES
        for key in (
            (N_("Across economies"), N_("yes") if sme_economy != partner_economy else N_("no")),
            (N_("Value chain"), _chain_relation(factors or [])),
            (N_("Score"), _score_band(score)),
        ):
            counts = tally.setdefault(key, [0, 0, 0, 0])
            counts[0] += 1
            counts[1] += approved
            counts[2] += answered
            counts[3] += accepted
    return [
        DecisionRow(factor, value, *counts) for (factor, value), counts in sorted(tally.items())
    ]


@dataclass(frozen=True)
class PositionCount:
    code: str
    label: str
    meetings: int  # meetings in which either party works in this position


@dataclass(frozen=True)
class EventMeetings:
    """Meetings on published agendas (all events, or one), and the feedback after them."""

    meetings: int
    economy_pairs: list[tuple[str, str, int]]  # (economy, economy, meetings), economies sorted
    positions: list[PositionCount]
    feedback: feedback.FeedbackFigures


def events_by_name() -> list[Event]:
    """Return every event, by name, for the dashboard's event filter."""
    return list(db.session.scalars(select(Event).order_by(Event.name, Event.id)))


def event_meetings(event_id: int | None = None) -> EventMeetings:
    """Count published meetings by economy pair and by value-chain position, with feedback."""
    meetings = feedback.agenda_meetings(event_id)
    pairs: Counter[tuple[str, str]] = Counter()
    positions: Counter[str] = Counter()
    for meeting in meetings:
        first, second = meeting.first.profile, meeting.second.profile
        pairs[tuple(sorted((first.economy, second.economy)))] += 1
        positions.update(set(first.value_chain) | set(second.value_chain))
    return EventMeetings(
        meetings=len(meetings),
        economy_pairs=sorted(
            ((a, b, count) for (a, b), count in pairs.items()),
            key=lambda row: (
                -row[2],
                reference.economy_name(row[0]),
                reference.economy_name(row[1]),
            ),
        ),
        positions=[
            PositionCount(term.code, term.label, positions[term.code])
            for term in reference.VALUE_CHAIN
        ],
        feedback=feedback.figures(feedback.held_meetings(event_id)),
    )
