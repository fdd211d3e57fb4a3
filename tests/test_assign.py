"""Cohort assignment: capacities, k, organisations, the cross-economy share, exclusions."""

from __future__ import annotations

import itertools
import math
import random
from types import SimpleNamespace

import numpy as np
import pytest

from partnermatch.matching import assign
from partnermatch.matching.assign import (
    Assignment,
    Partner,
    Sme,
    Status,
    greedy_assignment,
    solve_assignment,
    unconstrained_top_k,
)


def eligible(i, j, score, smes, partners, excluded) -> bool:
    own = smes[i].organisation_id
    return (
        score > 0
        and partners[j].capacity > 0
        and (i, j) not in excluded
        and (own is None or partners[j].organisation_id != own)
    )


def assert_valid(
    result: Assignment,
    smes: list[Sme],
    partners: list[Partner],
    *,
    k: int = 3,
    share: float | None = None,
    excluded: frozenset[tuple[int, int]] = frozenset(),
) -> None:
    """Check every constraint on a result, independently of the solver's own bookkeeping."""
    pairs = [(s.sme, s.partner) for s in result.suggestions]
    assert len(set(pairs)) == len(pairs)
    per_partner = dict.fromkeys(range(len(partners)), 0)
    for s in result.suggestions:
        assert (s.sme, s.partner) not in excluded
        assert s.score == max(score for j, score in smes[s.sme].candidates if j == s.partner)
        per_partner[s.partner] += 1
    for j, used in per_partner.items():
        assert used <= partners[j].capacity
    for i, sme in enumerate(smes):
        mine = result.for_sme(i)
        assert len(mine) <= k
        organisations = [
            partners[s.partner].organisation_id
            for s in mine
            if partners[s.partner].organisation_id is not None
        ]
        assert len(organisations) == len(set(organisations))
        assert sme.organisation_id is None or sme.organisation_id not in organisations
        # The share binds an SME with at least one eligible cross-economy candidate.
        has_cross = any(
            partners[j].economy != sme.economy and eligible(i, j, score, smes, partners, excluded)
            for j, score in sme.candidates
        )
        if share and has_cross:
            cross = sum(partners[s.partner].economy != sme.economy for s in mine)
            assert cross >= math.ceil(share * len(mine) - 1e-9)
    assert result.total_score == pytest.approx(sum(s.score for s in result.suggestions))
    assert result.total_score <= result.unconstrained_total + 1e-9


def chosen(result: Assignment) -> set[tuple[int, int]]:
    return {(s.sme, s.partner) for s in result.suggestions}


def test_a_partner_is_never_suggested_beyond_its_capacity():
    partners = [Partner(capacity=2, economy="JP"), Partner(capacity=5, economy="KR")]
    smes = [Sme("VN", [(0, 0.9), (1, 0.5)]) for _ in range(4)]

    result = solve_assignment(smes, partners, k=1)

    assert_valid(result, smes, partners, k=1)
    assert sum(s.partner == 0 for s in result.suggestions) == 2
    assert result.total_score == pytest.approx(2 * 0.9 + 2 * 0.5)
    assert result.stats.partners_full == 1


def test_each_sme_gets_at_most_k_suggestions():
    partners = [Partner(capacity=10, economy="JP") for _ in range(6)]
    smes = [Sme("VN", [(j, 0.9 - 0.1 * j) for j in range(6)]) for _ in range(3)]

    result = solve_assignment(smes, partners, k=2)

    assert_valid(result, smes, partners, k=2)
    assert all(len(result.for_sme(i)) == 2 for i in range(3))
    assert chosen(result) == {(i, j) for i in range(3) for j in (0, 1)}
    assert result.stats.smes_full == 3


def test_an_sme_gets_at_most_one_partner_of_each_organisation():
    university, institute = "university", "institute"
    partners = [
        Partner(5, "JP", university),
        Partner(5, "JP", university),
        Partner(5, "KR", institute),
        Partner(5, "CL", None),
        Partner(5, "CL", None),
    ]
    scores = [(0, 0.95), (1, 0.9), (2, 0.6), (3, 0.5), (4, 0.4)]
    smes = [Sme("VN", scores), Sme("TH", scores)]

    result = solve_assignment(smes, partners, k=3)

    assert_valid(result, smes, partners, k=3)
    # Each SME takes the university's best expert only; partners without one are independent.
    assert chosen(result) == {(i, j) for i in (0, 1) for j in (0, 2, 3)}


def test_a_partner_of_the_smes_own_organisation_is_never_suggested():
    partners = [Partner(5, "VN", "hanoi-tech"), Partner(5, "JP", "osaka-u")]
    smes = [Sme("VN", [(0, 0.9), (1, 0.3)], organisation_id="hanoi-tech")]

    for result in (solve_assignment(smes, partners), greedy_assignment(smes, partners)):
        assert chosen(result) == {(0, 1)}
        assert result.stats.dropped == 1


def test_the_cross_economy_share_overrides_better_same_economy_pairs():
    partners = [Partner(5, "VN") for _ in range(3)] + [Partner(5, e) for e in ("JP", "KR", "CL")]
    smes = [Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.3), (4, 0.2), (5, 0.1)])]

    free = solve_assignment(smes, partners, k=3)
    shared = solve_assignment(smes, partners, k=3, cross_share=0.5)

    assert chosen(free) == {(0, 0), (0, 1), (0, 2)}
    assert_valid(shared, smes, partners, k=3, share=0.5)
    # ceil(0.5 * 3) = 2 across economies: the best VN partner and the two best others.
    assert chosen(shared) == {(0, 0), (0, 3), (0, 4)}
    assert shared.total_score == pytest.approx(1.4)
    assert shared.unconstrained_total == pytest.approx(2.4)
    assert shared.stats.cross_economy == 2


def test_excluded_pairs_are_never_chosen():
    partners = [Partner(5, "JP") for _ in range(4)]
    smes = [Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.1)]) for _ in range(2)]
    excluded = frozenset({(0, 0), (1, 1), (1, 2)})

    for solver in (solve_assignment, greedy_assignment):
        result = solver(smes, partners, k=2, excluded=excluded)
        assert_valid(result, smes, partners, k=2, excluded=excluded)
        assert chosen(result) == {(0, 1), (0, 2), (1, 0), (1, 3)}
        # The bound leaves excluded pairs out too: they are not a cost of the constraints.
        assert result.unconstrained_total == pytest.approx(result.total_score)


def test_the_solver_finds_the_optimum_where_greedy_does_not():
    partners = [Partner(capacity=1, economy="JP"), Partner(capacity=1, economy="KR")]
    smes = [Sme("VN", [(0, 1.0), (1, 0.9)]), Sme("TH", [(0, 0.9), (1, 0.1)])]

    greedy = greedy_assignment(smes, partners, k=1)
    best = solve_assignment(smes, partners, k=1)

    assert chosen(greedy) == {(0, 0), (1, 1)}
    assert greedy.total_score == pytest.approx(1.1)
    assert chosen(best) == {(0, 1), (1, 0)}
    assert best.total_score == pytest.approx(1.8)
    assert best.status is Status.OPTIMAL
    assert greedy.status is Status.HEURISTIC


def brute_force(smes, partners, k, share, excluded) -> float:
    """Return the best total over every subset of pairs worth suggesting that meets the rules."""
    # A pair of score <= 0 is dropped by the solver even where it would help meet the share.
    pairs = [
        (i, j, score) for i, sme in enumerate(smes) for j, score in sme.candidates if score > 0
    ]
    best = 0.0
    for size in range(len(pairs) + 1):
        for subset in itertools.combinations(pairs, size):
            result = Assignment(
                suggestions=[assign.Suggestion(i, j, s) for i, j, s in subset],
                total_score=sum(s for _, _, s in subset),
                unconstrained_total=math.inf,
                status=Status.OPTIMAL,
                message="",
                wall_time=0.0,
                stats=None,  # type: ignore[arg-type]
            )
            try:
                assert_valid(result, smes, partners, k=k, share=share, excluded=excluded)
            except AssertionError:
                continue
            best = max(best, result.total_score)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_the_solver_matches_brute_force_and_greedy_stays_valid(seed):
    rng = random.Random(seed)
    partners = [
        Partner(rng.randint(0, 2), rng.choice("AB"), rng.choice([None, "u", "v"])) for _ in range(4)
    ]
    smes = [
        Sme(
            rng.choice("AB"),
            [(j, round(rng.uniform(-0.1, 1), 2)) for j in rng.sample(range(4), 3)],
            organisation_id=rng.choice([None, "v"]),
        )
        for _ in range(3)
    ]
    excluded = frozenset({(rng.randrange(3), rng.randrange(4))})
    options = {"k": 2, "cross_share": 0.5, "excluded": excluded}

    best = solve_assignment(smes, partners, **options)
    greedy = greedy_assignment(smes, partners, **options)

    assert_valid(best, smes, partners, k=2, share=0.5, excluded=excluded)
    assert_valid(greedy, smes, partners, k=2, share=0.5, excluded=excluded)
    assert best.total_score == pytest.approx(brute_force(smes, partners, 2, 0.5, excluded))
    assert greedy.total_score <= best.total_score + 1e-9


def test_empty_inputs_give_an_empty_assignment():
    partners = [Partner(3, "JP")]
    cases = [
        ([], [], {}),
        ([Sme("VN")], partners, {}),
        ([Sme("VN", [(0, 0.5)])], partners, {"k": 0}),
        ([Sme("VN", [(0, 0.0)])], partners, {}),
        ([Sme("VN", [(0, 0.5)])], [Partner(0, "JP")], {}),
    ]
    for smes, candidates, options in cases:
        for solver in (solve_assignment, greedy_assignment):
            result = solver(smes, candidates, **options)
            assert result.suggestions == []
            assert result.total_score == 0.0
            assert result.ratio == 1.0
            assert result.stats.smes_empty == len(smes)


def test_an_sme_without_cross_economy_candidates_is_exempt_from_the_share():
    partners = [Partner(5, "VN") for _ in range(3)] + [Partner(5, "JP")]
    smes = [
        Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.7)]),  # nobody across economies: exempt
        Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.2)]),  # one across: fewer suggestions
    ]

    for solver in (solve_assignment, greedy_assignment):
        result = solver(smes, partners, k=3, cross_share=0.5)
        assert_valid(result, smes, partners, k=3, share=0.5)
        assert {s.partner for s in result.for_sme(0)} == {0, 1, 2}
        # ceil(0.5 * 2) = 1 across economies allows two suggestions; three would need two.
        assert {s.partner for s in result.for_sme(1)} == {0, 3}
        assert result.stats.share_exempt == 1

    everything_across = solve_assignment(smes, partners, k=3, cross_share=1.0)
    assert {s.partner for s in everything_across.for_sme(1)} == {3}


def test_the_share_holds_even_when_an_sme_loses_the_scarce_cross_economy_slot():
    partners = [Partner(5, "VN"), Partner(5, "VN"), Partner(1, "JP")]
    smes = [Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.3)]) for _ in range(2)]

    for solver in (solve_assignment, greedy_assignment):
        result = solver(smes, partners, k=2, cross_share=0.5)
        assert_valid(result, smes, partners, k=2, share=0.5)
        # The share is hard for an SME that has a cross-economy candidate: one SME takes the
        # only JP slot with its best VN partner, the other is left without suggestions.
        assert result.total_score == pytest.approx(0.9 + 0.3)
        assert result.stats.smes_empty == 1
        assert result.stats.share_exempt == 0


def test_a_duplicate_candidate_counts_once_with_its_best_score():
    partners = [Partner(5, "JP")]
    smes = [Sme("VN", [(0, 0.4), (0, 0.7)])]

    result = solve_assignment(smes, partners)

    assert [(s.partner, s.score) for s in result.suggestions] == [(0, 0.7)]


@pytest.mark.parametrize(
    ("smes", "options", "message"),
    [
        ([Sme("VN", [(7, 0.5)])], {}, "out of range"),
        ([Sme("VN", [(0, math.nan)])], {}, "score"),
        ([], {"cross_share": 1.5}, "cross_share"),
        ([], {"k": -1}, "k must"),
        ([], {"time_limit": 0}, "time_limit"),
    ],
)
def test_invalid_input_is_refused(smes, options, message):
    with pytest.raises(ValueError, match=message):
        solve_assignment(smes, [Partner(1, "JP")], **options)


def test_a_solver_stopped_by_its_time_limit_returns_its_best_solution(monkeypatch):
    partners = [Partner(capacity=1, economy="JP"), Partner(capacity=1, economy="KR")]
    smes = [Sme("VN", [(0, 1.0), (1, 0.9)]), Sme("TH", [(0, 0.9), (1, 0.1)])]
    stopped = SimpleNamespace(
        status=1, x=np.array([1.0, 0.0, 0.0, 1.0]), message="Time limit reached.", mip_gap=0.6
    )
    monkeypatch.setattr(assign, "milp", lambda *args, **kwargs: stopped)

    result = solve_assignment(smes, partners, k=1, time_limit=0.01)

    assert result.status is Status.FEASIBLE
    assert "Time limit reached" in result.message
    assert chosen(result) == {(0, 0), (1, 1)}


def test_a_solver_stopped_without_a_solution_falls_back_to_greedy(monkeypatch):
    partners = [Partner(capacity=1, economy="JP"), Partner(capacity=1, economy="KR")]
    smes = [Sme("VN", [(0, 1.0), (1, 0.9)]), Sme("TH", [(0, 0.9), (1, 0.1)])]
    stopped = SimpleNamespace(status=1, x=None, message="Time limit reached.")
    monkeypatch.setattr(assign, "milp", lambda *args, **kwargs: stopped)

    result = solve_assignment(smes, partners, k=1, cross_share=0.5)

    assert result.status is Status.HEURISTIC
    assert "greedy" in result.message
    assert_valid(result, smes, partners, k=1, share=0.5)
    assert result.total_score == pytest.approx(1.1)


def test_a_real_time_limit_still_gives_a_valid_assignment():
    rng = random.Random(3)
    partners = [
        Partner(rng.randint(1, 3), rng.choice("ABCD"), rng.randrange(40)) for _ in range(200)
    ]
    smes = [
        Sme(rng.choice("ABCD"), [(j, rng.random()) for j in rng.sample(range(200), 20)])
        for _ in range(100)
    ]

    result = solve_assignment(smes, partners, cross_share=0.5, time_limit=0.05)

    assert result.status in set(Status)
    assert_valid(result, smes, partners, share=0.5)


def test_progress_reports_each_step():
    messages: list[str] = []
    partners = [Partner(1, "JP")]

    solve_assignment([Sme("VN", [(0, 0.5)])], partners, progress=messages.append)

    assert messages[0].startswith("assignment: 1 eligible pairs for 1 SMEs")
    assert messages[1].startswith("HiGHS: 1 binaries")
    assert messages[-1].startswith("optimal: total 0.500")


def test_the_unconstrained_total_is_each_smes_best_k():
    partners = [Partner(1, "JP", "same-org") for _ in range(4)]
    smes = [Sme("VN", [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6)]) for _ in range(2)]

    assert unconstrained_top_k(smes, partners, k=3) == pytest.approx(2 * 2.4)
    assert unconstrained_top_k(smes, partners, k=3, excluded={(0, 0)}) == pytest.approx(2.1 + 2.4)
    result = solve_assignment(smes, partners, k=3)
    assert result.total_score == pytest.approx(0.9 + 0.8)
    assert result.ratio == pytest.approx(1.7 / 4.8)
