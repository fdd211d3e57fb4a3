"""Suggested matches for a cohort of SMEs: recommendations, then one assignment for all.

Each SME's best candidates come from the recommendation engine (undiversified: the solver
applies its own rules); the cohort is then solved as one assignment problem, so that popular
partners are not promised to everyone. No HTTP; the caller commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, select

from partnermatch.extensions import db
from partnermatch.matching import roles, strength
from partnermatch.matching.assign import (
    Assignment,
    Partner,
    Sme,
    greedy_assignment,
    solve_assignment,
)
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.recommend import (
    DEFAULT_WEIGHTS,
    FactorWeights,
    Recommendation,
    recommend,
)
from partnermatch.notifications.services import coordinators, notify
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters, filtered_profile_ids
from partnermatch.reference import N_, ProfileKind
from partnermatch.review.models import CLOSED_STATES, Match, MatchEvent, MatchOrigin, MatchState
from partnermatch.review.services import factors_json

CANDIDATES_PER_SME = 40


@dataclass(frozen=True)
class CohortReport:
    smes: int
    created: int
    assignment: Assignment
    greedy: Assignment


def cohort_smes(filters: ProfileFilters, sme_ids: Sequence[int] = ()) -> list[Profile]:
    """Return the SME profiles of a cohort: those passing the filters, or the listed ones."""
    ids = list(sme_ids) or filtered_profile_ids(replace(filters, kind=ProfileKind.SME))
    query = (
        select(Profile)
        .where(Profile.id.in_(ids), Profile.kind == ProfileKind.SME)
        .order_by(Profile.id)
    )
    return list(db.session.scalars(query))


def _capacity_of(partner: Profile, default: int) -> int:
    """A partner's own capacity per round, or the programme's default."""
    return default if partner.introduction_capacity is None else partner.introduction_capacity


def _open_load(partner_ids: Sequence[int]) -> Counter[int]:
    """How many open matches each partner already has this round (against its capacity)."""
    rows = db.session.execute(
        select(Match.partner_profile_id, func.count(Match.id))
        .where(Match.partner_profile_id.in_(partner_ids), Match.state.not_in(CLOSED_STATES))
        .group_by(Match.partner_profile_id)
    )
    return Counter(dict(rows.all()))


def _known_pairs(sme_ids: Sequence[int]) -> set[tuple[int, int]]:
    """Pairs already suggested, introduced, rejected or declined: never suggested again."""
    rows = db.session.execute(
        select(Match.sme_profile_id, Match.partner_profile_id).where(
            Match.sme_profile_id.in_(sme_ids)
        )
    )
    return {(sme, partner) for sme, partner in rows}


def _brokerable(sme: Profile, recommendations: list[Recommendation]) -> list[Recommendation]:
    """Leave out the SME's peers and competitors: a recommendation list may show them
    demoted, but a broker proposes one only when the needs ask for it (a second source...)."""
    if roles.asks_for_peers(sme.needs):
        return recommendations
    return [rec for rec in recommendations if rec.role not in roles.DEMOTED_ROLES]


def suggest_for_cohort(
    engine: MatchingEngine,
    smes: Sequence[Profile],
    *,
    k: int = 3,
    cross_share: float | None = 0.5,
    capacity: int = 3,
    weights: FactorWeights = DEFAULT_WEIGHTS,
    min_strength: str = strength.GOOD,
    on_sme: Callable[[Profile], None] | None = None,
) -> CohortReport:
    """Suggest up to k partners to each SME of the cohort, as one optimal assignment (no
    pair weaker than `min_strength`, no peer or competitor unless the SME's needs ask for
    one)."""
    recommendations: dict[int, list[Recommendation]] = {}
    for sme in smes:
        recommendations[sme.id] = _brokerable(
            sme,
            recommend(
                engine,
                sme,
                CANDIDATES_PER_SME,
                weights=weights,
                diversify=False,
                min_strength=min_strength,
            ),
        )
        if on_sme:
            on_sme(sme)
    partners: dict[int, Profile] = {
        rec.profile.id: rec.profile for recs in recommendations.values() for rec in recs
    }
    partner_ids = list(partners)
    position = {pid: index for index, pid in enumerate(partner_ids)}
    load = _open_load(partner_ids)
    known = _known_pairs([sme.id for sme in smes])
    sme_inputs = [
        Sme(
            economy=sme.economy,
            organisation_id=sme.organisation_id,
            candidates=[(position[rec.profile.id], rec.score) for rec in recommendations[sme.id]],
        )
        for sme in smes
    ]
    partner_inputs = [
        Partner(
            capacity=max(_capacity_of(partners[pid], capacity) - load[pid], 0),
            economy=partners[pid].economy,
            organisation_id=partners[pid].organisation_id,
        )
        for pid in partner_ids
    ]
    excluded = {
        (index, position[partner])
        for index, sme in enumerate(smes)
        for own, partner in known
        if own == sme.id and partner in position
    }
    options = {"k": k, "cross_share": cross_share, "excluded": excluded}
    assignment = solve_assignment(sme_inputs, partner_inputs, **options)
    greedy = greedy_assignment(sme_inputs, partner_inputs, **options)

    for suggestion in assignment.suggestions:
        sme = smes[suggestion.sme]
        partner_id = partner_ids[suggestion.partner]
        rec = next(r for r in recommendations[sme.id] if r.profile.id == partner_id)
        match = Match(
            sme=sme,
            partner=partners[partner_id],
            state=MatchState.SUGGESTED,
            origin=MatchOrigin.SUGGESTED,
            score=rec.score,
            factors=factors_json(rec),
        )
        match.events.append(
            MatchEvent(action="suggest", from_state=None, to_state=MatchState.SUGGESTED.value)
        )
        db.session.add(match)
    db.session.flush()
    if assignment.suggestions:
        notify(
            coordinators(),
            N_(
                "%(suggested)s new suggested matches for a cohort of %(smes)s SMEs "
                "are waiting for review."
            ),
            {"suggested": str(len(assignment.suggestions)), "smes": str(len(smes))},
            link="/review/",
        )
    return CohortReport(len(smes), len(assignment.suggestions), assignment, greedy)
