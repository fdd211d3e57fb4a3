"""Cohort assignment benchmark: the HiGHS solver against greedy, on a synthetic cohort.

    .venv/bin/python bench/bench_assign.py [--smes 1000] [--partners 5000] [--pull 0.6]

The cohort is shaped like a programme's: SMEs and partners are unit vectors in a 16-dimension
topic space, drawn around a dozen topics and pulled towards their economy's specialisation,
so same-economy pairs score higher and the cross-economy share has a price (raise --pull to
make the share bite harder). Scores are the
recommendation engine's shape: cosine floored at 0, times a per-partner standing (some
experts are in demand everywhere, which makes capacities bind), plus 0.05 across economies.
Each SME keeps its top 40 candidates; 2% of those pairs are excluded as already suggested.
The 21 APEC economies have skewed sizes; 1,500 organisations of skewed sizes each sit in one
economy, and 10% of partners have none. Capacities are 1 to 5, k = 3, the share is 0.5.

In one run: the MILP's wall time (goal <= 30 s on 2 cores) and total, the greedy total and
time, the unconstrained top-k total and the ratios, SMEs given k suggestions, capacity use,
and the MILP's total without the share, to show what the share costs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from partnermatch import reference
from partnermatch.matching.assign import (
    Assignment,
    Partner,
    Sme,
    greedy_assignment,
    solve_assignment,
)

DIMENSIONS = 16
TOPICS = 12
ORGANISATIONS = 1_500
TOP = 40
K = 3
SHARE = 0.5
CROSS_BONUS = 0.05  # the recommendation engine's default weight for another economy
EXCLUDED_SHARE = 0.02
TIME_LIMIT = 30.0


def unit(vectors: np.ndarray) -> np.ndarray:
    """Return the rows scaled to unit length."""
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def cohort(
    smes: int, partners: int, seed: int, pull: float = 0.6
) -> tuple[list[Sme], list[Partner], frozenset[tuple[int, int]]]:
    """Return a synthetic cohort: SMEs with their top candidates, partners, excluded pairs."""
    rng = np.random.default_rng(seed)
    codes = list(reference.APEC_ECONOMY_NAMES)
    weights = 1 / np.arange(1, len(codes) + 1) ** 0.8
    weights /= weights.sum()
    topics = unit(rng.normal(size=(TOPICS, DIMENSIONS)))
    specialities = unit(rng.normal(size=(len(codes), DIMENSIONS)))

    def vectors(economy: np.ndarray) -> np.ndarray:
        topic = topics[rng.integers(TOPICS, size=len(economy))]
        noise = rng.normal(size=(len(economy), DIMENSIONS)) / np.sqrt(DIMENSIONS)
        return unit(topic + pull * specialities[economy] + 0.7 * noise)

    organisation_economy = rng.choice(len(codes), size=ORGANISATIONS, p=weights)
    organisation_weights = 1 / np.arange(1, ORGANISATIONS + 1)
    organisation = rng.choice(
        ORGANISATIONS, size=partners, p=organisation_weights / organisation_weights.sum()
    )
    independent = rng.random(partners) < 0.10
    partner_economy = np.where(
        independent,
        rng.choice(len(codes), size=partners, p=weights),
        organisation_economy[organisation],
    )
    sme_economy = rng.choice(len(codes), size=smes, p=weights)
    standing = rng.beta(5, 2, size=partners)

    scores = np.maximum(vectors(sme_economy) @ vectors(partner_economy).T, 0) * standing
    scores += CROSS_BONUS * (sme_economy[:, None] != partner_economy[None, :])
    top = np.argpartition(-scores, TOP, axis=1)[:, :TOP]

    sme_list = [
        Sme(
            codes[sme_economy[i]],
            [(int(j), float(scores[i, j])) for j in top[i]],
            organisation_id=f"sme-{i}",
        )
        for i in range(smes)
    ]
    partner_list = [
        Partner(
            capacity=int(rng.integers(1, 6)),
            economy=codes[partner_economy[j]],
            organisation_id=None if independent[j] else int(organisation[j]),
        )
        for j in range(partners)
    ]
    pairs = [(i, int(j)) for i in range(smes) for j in top[i]]
    picks = rng.choice(len(pairs), size=int(EXCLUDED_SHARE * len(pairs)), replace=False)
    return sme_list, partner_list, frozenset(pairs[p] for p in picks)


def top_k(i: int, sme: Sme, excluded: frozenset[tuple[int, int]]) -> list[tuple[float, int]]:
    """Return an SME's best k candidates that are not excluded, as (score, partner)."""
    return sorted(((s, j) for j, s in sme.candidates if (i, j) not in excluded), reverse=True)[:K]


def report(name: str, result: Assignment, smes: int) -> None:
    """Print one assignment's figures."""
    stats = result.stats
    print(f"{name}: {result.status}, {result.message}")
    print(f"  wall time            {result.wall_time:8.2f} s")
    print(f"  total score          {result.total_score:8.2f}")
    print(f"  / unconstrained      {result.ratio:8.1%}")
    print(f"  suggestions          {len(result.suggestions):8d}")
    print(f"  SMEs with k={K}        {stats.smes_full:8d} of {smes} ({stats.smes_empty} with none)")
    print(
        f"  capacity used        {stats.capacity_used:8d} of {stats.capacity_offered}"
        f" ({stats.partners_full} partners full)"
    )
    share = stats.cross_economy / len(result.suggestions) if result.suggestions else 0.0
    print(f"  across economies     {share:8.1%}")


def main() -> None:
    """Build the cohort, run the solver and the greedy baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smes", type=int, default=1_000)
    parser.add_argument("--partners", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pull", type=float, default=0.6, help="economy specialisation")
    args = parser.parse_args()

    started = time.perf_counter()
    smes, partners, excluded = cohort(args.smes, args.partners, args.seed, args.pull)
    print(
        f"cohort: {len(smes)} SMEs x {len(partners)} partners, top {TOP} each, "
        f"{len(excluded)} excluded pairs, k={K}, share {SHARE}, "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    breaking = sum(
        sum(partners[j].economy != sme.economy for _, j in top_k(i, sme, excluded))
        < np.ceil(SHARE * K)
        for i, sme in enumerate(smes)
    )
    print(f"SMEs whose own top {K} breaks the share: {breaking}")
    options = {"k": K, "cross_share": SHARE, "excluded": excluded}

    solved = solve_assignment(
        smes, partners, time_limit=TIME_LIMIT, progress=lambda m: print(f"  {m}"), **options
    )
    greedy = greedy_assignment(smes, partners, **options)
    print(f"unconstrained top-{K} total: {solved.unconstrained_total:.2f}")
    print(
        f"eligible pairs {solved.stats.pairs}, dropped {solved.stats.dropped}, "
        f"SMEs exempt from the share {solved.stats.share_exempt}"
    )
    report("MILP (HiGHS)", solved, len(smes))
    report("greedy", greedy, len(smes))
    free = solve_assignment(smes, partners, k=K, excluded=excluded, time_limit=TIME_LIMIT)
    cost = 1 - solved.total_score / free.total_score if free.total_score else 0.0
    print(
        f"MILP without the share: {free.status}, total {free.total_score:.2f} "
        f"in {free.wall_time:.2f} s; the share costs {cost:.2%}"
    )
    gain = solved.total_score / greedy.total_score - 1 if greedy.total_score else 0.0
    verdict = "met" if solved.wall_time <= TIME_LIMIT else "MISSED"
    print(f"MILP over greedy: {gain:+.2%} total score")
    print(f"goal: MILP wall time <= {TIME_LIMIT:g} s: {verdict} ({solved.wall_time:.2f} s)")


if __name__ == "__main__":
    main()
