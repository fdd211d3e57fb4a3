"""Cohort assignment: up to k partner suggestions for each SME of a cohort, best total score.

The model. A coordinator picks a cohort of SMEs. Each SME comes with its candidates, pairs
(partner index, score) from the recommendation engine that the caller has pruned to the top
M (30 to 50). One binary variable per candidate pair says whether the pair is suggested; the
chosen pairs maximise the total score subject to:

1. each SME gets at most ``k`` suggestions, and each partner at most its ``capacity`` across
   the cohort (what is left of its introductions this round: the caller subtracts earlier use);
2. an SME gets at most one partner of any one organisation;
3. optionally, at least a share ``s`` of each SME's suggestions are in another economy than
   the SME's: ``cross_i >= s * total_i``. As ``cross_i`` is an integer, this is the same as
   ``cross_i >= ceil(s * total_i)`` while staying linear;
4. excluded pairs (already suggested, declined, introduced) are never chosen. So are pairs
   with a partner of the SME's own organisation, a score <= 0 (a suggestion that adds nothing
   is not worth an introduction) or a partner whose capacity is 0.

When the share cannot be met. Constraint 3 never makes the model infeasible (no suggestion
at all satisfies it); it lowers the count instead: with s = 0.5 and a single cross-economy
candidate, an SME gets at most two suggestions, one of them across economies. An SME with no
eligible cross-economy candidate at all is exempt from the share, since the constraint would
leave it with nothing, and same-economy suggestions serve it better than none. Exempt SMEs are
counted in `AssignmentStats.share_exempt` so the coordinator can widen their candidate lists.
The share stays hard for every other SME, so when its few cross-economy partners have their
capacity taken by SMEs that gain more from them, the optimum can leave it with none;
`AssignmentStats.smes_empty` shows how often.

The solver. Without constraints 2 and 3 this is a transportation problem (SMEs to partners,
capacities on both sides) that min-cost flow solves exactly. The organisation rows (a cap on
a subset of the arcs leaving one SME) and the share rows (a ratio between two subsets of those
arcs) are side constraints a flow network cannot express, so the model is a 0/1 integer
program solved by HiGHS through `scipy.optimize.milp`. The flow part is totally unimodular and
the side rows are local to one SME, so the LP relaxation is nearly integral and branch and
bound has little left to do: for 1,000 SMEs with 40 candidates each, about 2% of the LP's
variables are fractional, its bound is within 0.2% of the optimum, and the MILP solves in about
3 s (bench/bench_assign.py). A time limit bounds the solve: when it is reached, the best feasible
solution HiGHS has found is returned with status FEASIBLE, and when it has none, the greedy
assignment is returned with status HEURISTIC.

`greedy_assignment` is the baseline, and `unconstrained_top_k` (each SME's best k eligible
pairs, ignoring capacities and side constraints) an upper bound, so the caller can report what
the constraints cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

DEFAULT_K = 3
DEFAULT_TIME_LIMIT = 30.0
# Slack for comparing a float share with integer counts: 0.1 * 3 is 0.30000000000000004.
_EPS = 1e-9

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Partner:
    """A candidate partner profile (an expert or another SME) and its limit this round."""

    capacity: int
    economy: str
    organisation_id: Hashable | None = None


@dataclass(frozen=True)
class Sme:
    """An SME of the cohort with its pruned candidates: (partner index, score) pairs."""

    economy: str
    candidates: Sequence[tuple[int, float]] = ()
    organisation_id: Hashable | None = None


@dataclass(frozen=True)
class Suggestion:
    sme: int
    partner: int
    score: float


class Status(StrEnum):
    OPTIMAL = "optimal"  # proven optimal, within HiGHS's relative gap of 1e-4
    FEASIBLE = "feasible"  # the solver stopped at its limit: the best solution it found
    HEURISTIC = "heuristic"  # the greedy assignment, asked for or as a fallback


@dataclass(frozen=True)
class AssignmentStats:
    pairs: int  # eligible candidate pairs (the MILP's variables)
    dropped: int  # listed pairs left out: excluded, own organisation, score <= 0, duplicates
    smes_full: int  # SMEs given k suggestions
    smes_empty: int  # SMEs given none
    partners_full: int  # partners whose capacity is used up
    capacity_used: int
    capacity_offered: int  # sum of all partners' capacities
    cross_economy: int  # suggestions across economies
    share_exempt: int  # SMEs without any eligible cross-economy candidate


@dataclass(frozen=True)
class Assignment:
    suggestions: list[Suggestion]  # by SME, then best first
    total_score: float
    unconstrained_total: float  # each SME's best k eligible pairs, nothing else enforced
    status: Status
    message: str
    wall_time: float  # seconds, preparation included
    stats: AssignmentStats

    @property
    def ratio(self) -> float:
        """Return the total score as a share of the unconstrained top-k total."""
        return self.total_score / self.unconstrained_total if self.unconstrained_total else 1.0

    def for_sme(self, sme: int) -> list[Suggestion]:
        """Return one SME's suggestions, best first."""
        return [suggestion for suggestion in self.suggestions if suggestion.sme == sme]


@dataclass(frozen=True)
class _Pairs:
    """The eligible candidate pairs as parallel arrays, with what the constraints need."""

    sme: np.ndarray
    partner: np.ndarray
    score: np.ndarray
    cross: np.ndarray  # bool: partner in another economy than the SME
    capacity: np.ndarray  # per partner
    organisation: np.ndarray  # per partner: a dense code, -1 for none
    exempt: np.ndarray  # per SME: bool, no cross-economy candidate (only with a share)
    share: float  # 0 when there is no share constraint
    k: int
    dropped: int

    @property
    def smes(self) -> int:
        return len(self.exempt)


def _prepare(
    smes: Sequence[Sme],
    partners: Sequence[Partner],
    k: int,
    cross_share: float | None,
    excluded: Collection[tuple[int, int]],
) -> _Pairs:
    if k < 0:
        raise ValueError(f"k must be at least 0, not {k}")
    share = cross_share or 0.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"cross_share must be between 0 and 1, not {cross_share}")
    codes: dict[Hashable, int] = {}
    organisation = np.full(len(partners), -1, dtype=np.int64)
    for j, partner in enumerate(partners):
        if partner.capacity < 0:
            raise ValueError(f"partner {j}: capacity must be at least 0, not {partner.capacity}")
        if partner.organisation_id is not None:
            organisation[j] = codes.setdefault(partner.organisation_id, len(codes))
    excluded = set(excluded)

    sme_col: list[int] = []
    partner_col: list[int] = []
    score_col: list[float] = []
    cross_col: list[bool] = []
    listed = 0
    for i, sme in enumerate(smes):
        best: dict[int, float] = {}
        for j, score in sme.candidates:
            if not 0 <= j < len(partners):
                raise ValueError(f"SME {i}: partner index {j} is out of range")
            if not math.isfinite(score):
                raise ValueError(f"SME {i}: the score of partner {j} is {score}")
            listed += 1
            partner = partners[j]
            if (
                score <= 0
                or partner.capacity == 0
                or (i, j) in excluded
                or (
                    sme.organisation_id is not None
                    and partner.organisation_id == sme.organisation_id
                )
            ):
                continue
            best[j] = max(score, best.get(j, score))
        for j, score in best.items():
            sme_col.append(i)
            partner_col.append(j)
            score_col.append(score)
            cross_col.append(partners[j].economy != sme.economy)

    sme_arr = np.array(sme_col, dtype=np.int64)
    cross = np.array(cross_col, dtype=bool)
    has_cross = np.bincount(sme_arr[cross], minlength=len(smes)) > 0
    return _Pairs(
        sme=sme_arr,
        partner=np.array(partner_col, dtype=np.int64),
        score=np.array(score_col, dtype=np.float64),
        cross=cross,
        capacity=np.array([partner.capacity for partner in partners], dtype=np.int64),
        organisation=organisation,
        exempt=~has_cross if share > 0 else np.zeros(len(smes), dtype=bool),
        share=share,
        k=k,
        dropped=listed - len(sme_col),
    )


def _unconstrained_total(pairs: _Pairs) -> float:
    if not len(pairs.score) or pairs.k == 0:
        return 0.0
    # Sort by SME, best first within each, then keep each SME's first k.
    order = np.lexsort((-pairs.score, pairs.sme))
    sme = pairs.sme[order]
    starts = np.searchsorted(sme, sme, side="left")
    rank = np.arange(len(sme)) - starts
    return float(pairs.score[order][rank < pairs.k].sum())


def _greedy(pairs: _Pairs) -> np.ndarray:
    """Choose pairs in descending score order, then drop picks that break the share."""
    chosen = np.zeros(len(pairs.score), dtype=bool)
    taken = np.zeros(pairs.smes, dtype=np.int64)
    same_taken = np.zeros(pairs.smes, dtype=np.int64)
    used = np.zeros(len(pairs.capacity), dtype=np.int64)
    organisations_used: set[tuple[int, int]] = set()
    # Same-economy picks beyond this would break the share even with k suggestions.
    same_cap = math.floor((1 - pairs.share) * pairs.k + _EPS)
    share_applies = ~pairs.exempt & (pairs.share > 0)
    order = np.lexsort((pairs.partner, pairs.sme, -pairs.score))
    for p in order.tolist():
        i, j = int(pairs.sme[p]), int(pairs.partner[p])
        organisation = int(pairs.organisation[j])
        if taken[i] >= pairs.k or used[j] >= pairs.capacity[j]:
            continue
        if organisation >= 0 and (i, organisation) in organisations_used:
            continue
        same = not pairs.cross[p]
        if same and share_applies[i] and same_taken[i] >= same_cap:
            continue
        chosen[p] = True
        taken[i] += 1
        same_taken[i] += same
        used[j] += 1
        if organisation >= 0:
            organisations_used.add((i, organisation))

    # An SME that found too few cross-economy partners keeps its best same-economy picks only.
    for i in np.flatnonzero(share_applies & (same_taken > 0)).tolist():
        cross = int(taken[i] - same_taken[i])
        picks = np.flatnonzero(chosen & (pairs.sme == i) & ~pairs.cross)
        picks = picks[np.argsort(pairs.score[picks])]
        for p in picks.tolist():
            if cross >= pairs.share * (cross + same_taken[i]) - _EPS:
                break
            chosen[p] = False
            same_taken[i] -= 1
    return chosen


def _constraints(pairs: _Pairs) -> LinearConstraint | None:
    """Build the rows of constraints 1 to 3, leaving out rows that can never bind."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    data: list[np.ndarray] = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    count = 0

    def add_caps(group: np.ndarray, limit: np.ndarray, pair_index: np.ndarray) -> None:
        nonlocal count
        binding = np.bincount(group, minlength=len(limit)) > limit
        row_of_group = np.cumsum(binding) - 1 + count
        keep = binding[group]
        rows.append(row_of_group[group[keep]])
        cols.append(pair_index[keep])
        data.append(np.ones(int(keep.sum())))
        lower.append(np.full(int(binding.sum()), -np.inf))
        upper.append(limit[binding].astype(np.float64))
        count += int(binding.sum())

    everything = np.arange(len(pairs.score))
    add_caps(pairs.sme, np.full(pairs.smes, pairs.k), everything)
    add_caps(pairs.partner, pairs.capacity, everything)
    organisation = pairs.organisation[pairs.partner]
    in_organisation = np.flatnonzero(organisation >= 0)
    if len(in_organisation):
        keys = pairs.sme[in_organisation] * (int(organisation.max()) + 1)
        keys += organisation[in_organisation]
        _, group = np.unique(keys, return_inverse=True)
        add_caps(group, np.ones(int(group.max()) + 1, dtype=np.int64), in_organisation)

    if pairs.share > 0:
        # (1 - s) * cross - s * same >= 0, for SMEs that have a same-economy candidate.
        same_count = np.bincount(pairs.sme[~pairs.cross], minlength=pairs.smes)
        applies = ~pairs.exempt & (same_count > 0)
        row_of_sme = np.cumsum(applies) - 1 + count
        keep = applies[pairs.sme]
        rows.append(row_of_sme[pairs.sme[keep]])
        cols.append(everything[keep])
        data.append(np.where(pairs.cross[keep], 1 - pairs.share, -pairs.share))
        lower.append(np.zeros(int(applies.sum())))
        upper.append(np.full(int(applies.sum()), np.inf))
        count += int(applies.sum())

    if count == 0:
        return None
    matrix = coo_array(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
        shape=(count, len(pairs.score)),
    ).tocsr()
    return LinearConstraint(matrix, np.concatenate(lower), np.concatenate(upper))


def _result(
    pairs: _Pairs, chosen: np.ndarray, status: Status, message: str, started: float
) -> Assignment:
    picked = np.flatnonzero(chosen)
    picked = picked[np.lexsort((pairs.partner[picked], -pairs.score[picked], pairs.sme[picked]))]
    suggestions = [
        Suggestion(int(pairs.sme[p]), int(pairs.partner[p]), float(pairs.score[p]))
        for p in picked.tolist()
    ]
    per_sme = np.bincount(pairs.sme[picked], minlength=pairs.smes)
    per_partner = np.bincount(pairs.partner[picked], minlength=len(pairs.capacity))
    stats = AssignmentStats(
        pairs=len(pairs.score),
        dropped=pairs.dropped,
        smes_full=int((per_sme >= pairs.k).sum()) if pairs.k else 0,
        smes_empty=int((per_sme == 0).sum()),
        partners_full=int(((per_partner >= pairs.capacity) & (pairs.capacity > 0)).sum()),
        capacity_used=len(picked),
        capacity_offered=int(pairs.capacity.sum()),
        cross_economy=int(pairs.cross[picked].sum()),
        share_exempt=int(pairs.exempt.sum()),
    )
    return Assignment(
        suggestions=suggestions,
        total_score=float(pairs.score[picked].sum()),
        unconstrained_total=_unconstrained_total(pairs),
        status=status,
        message=message,
        wall_time=time.perf_counter() - started,
        stats=stats,
    )


def unconstrained_top_k(
    smes: Sequence[Sme],
    partners: Sequence[Partner],
    *,
    k: int = DEFAULT_K,
    excluded: Collection[tuple[int, int]] = (),
) -> float:
    """Return the sum of each SME's best k eligible scores, ignoring every other constraint."""
    return _unconstrained_total(_prepare(smes, partners, k, None, excluded))


def greedy_assignment(
    smes: Sequence[Sme],
    partners: Sequence[Partner],
    *,
    k: int = DEFAULT_K,
    cross_share: float | None = None,
    excluded: Collection[tuple[int, int]] = (),
    progress: Progress | None = None,
) -> Assignment:
    """Assign pairs in descending score order, skipping those a constraint forbids.

    The baseline for `solve_assignment`. The share is kept by capping each SME's
    same-economy picks at floor((1 - s) * k), then dropping the weakest same-economy picks
    of SMEs that end up with too few across economies; freed capacity is not reused.
    """
    started = time.perf_counter()
    pairs = _prepare(smes, partners, k, cross_share, excluded)
    if progress:
        progress(f"greedy: {len(pairs.score)} eligible pairs for {pairs.smes} SMEs")
    return _result(
        pairs, _greedy(pairs), Status.HEURISTIC, "greedy, in descending score order", started
    )


def solve_assignment(
    smes: Sequence[Sme],
    partners: Sequence[Partner],
    *,
    k: int = DEFAULT_K,
    cross_share: float | None = None,
    excluded: Collection[tuple[int, int]] = (),
    time_limit: float = DEFAULT_TIME_LIMIT,
    progress: Progress | None = None,
) -> Assignment:
    """Choose the suggestions of highest total score that meet every constraint, with HiGHS."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, not {time_limit}")
    started = time.perf_counter()
    pairs = _prepare(smes, partners, k, cross_share, excluded)
    if progress:
        progress(
            f"assignment: {len(pairs.score)} eligible pairs for {pairs.smes} SMEs "
            f"({pairs.dropped} dropped)"
        )
    if not len(pairs.score) or k == 0:
        nothing = np.zeros(len(pairs.score), dtype=bool)
        return _result(pairs, nothing, Status.OPTIMAL, "nothing to assign", started)

    constraints = _constraints(pairs)
    if progress:
        rows = constraints.A.shape[0] if constraints is not None else 0
        progress(f"HiGHS: {len(pairs.score)} binaries, {rows} rows, limit {time_limit:g} s")
    solution = milp(
        -pairs.score,
        integrality=np.ones(len(pairs.score)),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options={"time_limit": time_limit, "disp": False},
    )
    if solution.status == 0:
        status, message = Status.OPTIMAL, f"HiGHS: {solution.message}"
        chosen = solution.x > 0.5
    elif solution.x is not None:
        gap = getattr(solution, "mip_gap", None)
        gap_text = f", gap {gap:.2%}" if gap is not None and math.isfinite(gap) else ""
        status = Status.FEASIBLE
        message = f"HiGHS stopped ({solution.message}): best solution found{gap_text}"
        chosen = solution.x > 0.5
    else:
        status = Status.HEURISTIC
        message = f"HiGHS found no solution ({solution.message}): greedy assignment instead"
        chosen = _greedy(pairs)
    result = _result(pairs, chosen, status, message, started)
    if progress:
        progress(f"{status}: total {result.total_score:.3f} in {result.wall_time:.2f} s")
    return result
