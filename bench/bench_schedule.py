"""Meeting schedule benchmark: the HiGHS solver against greedy, on a synthetic forum.

    .venv/bin/python bench/bench_schedule.py [--people 500] [--requests 4000] [--tables 60]
        [--attend 1 2] [--skew 0.5] [--published 0.05] [--time-limit 30] [--seed 7]

The forum: two days of two sessions each, 8 slots of 20 minutes a session (2 days x 16
slots). Each participant attends one or two of the four sessions (--attend) and accepts 6 to
12 meetings. Requests join two participants drawn with a skewed popularity (some experts are
asked by many; --skew 0 draws them uniformly), one in twenty a meeting of three; none repeats
a pair. Weights are the caller's tiers: accepted requests 4, mutual "must meet" 2, "would meet"
their fit (0.2 to 1).
A share of the meetings (--published) is already published: taken from a greedy schedule and
fixed where greedy put them.

In one run, for the solver and the greedy baseline: meetings placed, total weight, its share
of the upper bound (the weight of every meeting whose people share a slot) and of the
solver's proven bound (which also counts caps and tables), the unplaced meetings by reason,
and the wall time. Goals: >= 98 % of the upper bound, above greedy, <= 30 s on 2 cores. The
proven bound / upper bound line says how much of the upper bound any schedule can reach: caps
and tables keep the best one well below it.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from partnermatch.matching.schedule import (
    Person,
    Schedule,
    Slot,
    Wanted,
    greedy,
    slots_from_sessions,
    solve,
)

MEETING_MINUTES = 20
SLOTS_PER_SESSION = 8
TIERS = (("accepted", 4.0, 0.4), ("must meet", 2.0, 0.2), ("would meet", None, 0.4))
THREE_SHARE = 0.05
TIME_LIMIT = 30.0
GOAL_SHARE = 0.98


def sessions() -> list[tuple[datetime, datetime]]:
    """Return the forum's four sessions: two days, a morning and an afternoon each."""
    length = timedelta(minutes=MEETING_MINUTES * SLOTS_PER_SESSION)
    first = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 09:00 in Kaohsiung
    starts = [first + timedelta(days=day, hours=hours) for day in (0, 1) for hours in (0, 4)]
    return [(start, start + length) for start in starts]


def forum(
    people: int, requests: int, seed: int, skew: float = 0.5, attend: tuple[int, int] = (1, 2)
) -> tuple[list[Slot], list[Person], list[Wanted]]:
    """Return a synthetic forum: its slots, participants and wanted meetings."""
    rng = np.random.default_rng(seed)
    slots = slots_from_sessions(sessions(), MEETING_MINUTES)
    session_slots = [
        range(s * SLOTS_PER_SESSION, (s + 1) * SLOTS_PER_SESSION) for s in range(len(sessions()))
    ]
    participants = []
    for person in range(people):
        attended = rng.choice(
            len(session_slots), size=int(rng.integers(attend[0], attend[1] + 1)), replace=False
        )
        free = frozenset(slot for s in attended.tolist() for slot in session_slots[s])
        participants.append(Person(person, free, int(rng.integers(6, 13))))

    popularity = 1 / np.arange(1, people + 1) ** skew
    popularity = rng.permutation(popularity / popularity.sum())
    _, weights, shares = zip(*TIERS, strict=True)
    wanted: list[Wanted] = []
    seen: set[frozenset[int]] = set()
    while len(wanted) < requests:
        size = 3 if rng.random() < THREE_SHARE else 2
        group = rng.choice(people, size=size, replace=False, p=popularity).tolist()
        pairs = {frozenset(pair) for pair in itertools.combinations(group, 2)}
        if pairs & seen:
            continue
        seen |= pairs
        tier = int(rng.choice(len(TIERS), p=shares))
        weight = weights[tier] if weights[tier] is not None else float(rng.uniform(0.2, 1.0))
        wanted.append(Wanted(len(wanted), tuple(group), weight))
    return slots, participants, wanted


def publish(
    slots: list[Slot],
    tables: int,
    people: list[Person],
    wanted: list[Wanted],
    share: float,
    seed: int,
) -> list[Wanted]:
    """Fix a share of the meetings where a greedy schedule puts them, as if published."""
    if share <= 0:
        return wanted
    draft = greedy(slots, tables, people, wanted)
    rng = np.random.default_rng(seed + 1)
    placed = sorted(draft.placed)
    chosen = set(rng.choice(placed, size=int(share * len(placed)), replace=False).tolist())
    return [
        Wanted(w.id, w.people, w.weight, draft.placed[w.id]) if w.id in chosen else w
        for w in wanted
    ]


def report(name: str, result: Schedule, wanted: list[Wanted], bound: float | None) -> None:
    """Print one schedule's figures."""
    print(f"{name}: {result.status}, {result.message}")
    print(f"  wall time            {result.wall_time:8.2f} s")
    print(f"  meetings placed      {len(result.placed):8d} of {len(wanted)}")
    print(f"  weight               {result.weight:8.1f}")
    print(f"  / upper bound        {result.weight / result.upper_bound:8.1%}")
    if bound:
        print(f"  / solver's bound     {result.weight / bound:8.1%}")
    by_tier = Counter(w.weight if w.weight >= 2 else "fit" for w in wanted if w.id in result.placed)
    tiers = Counter(w.weight if w.weight >= 2 else "fit" for w in wanted)
    print(
        "  placed by tier       "
        + ", ".join(
            f"{name} {by_tier[key]}/{tiers[key]}"
            for name, key in zip(
                ("accepted", "must meet", "would meet"), (4.0, 2.0, "fit"), strict=True
            )
        )
    )
    reasons = Counter(result.unplaced.values())
    print("  unplaced             " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))


def main() -> None:
    """Build the forum, run the solver and the greedy baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--tables", type=int, default=60)
    parser.add_argument(
        "--attend",
        type=int,
        nargs=2,
        default=(1, 2),
        metavar=("LEAST", "MOST"),
        help="sessions of the four each participant attends",
    )
    parser.add_argument("--skew", type=float, default=0.5, help="popularity: 0 is uniform")
    parser.add_argument("--published", type=float, default=0.05, help="share fixed beforehand")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    slots, people, wanted = forum(
        args.people, args.requests, args.seed, args.skew, tuple(args.attend)
    )
    wanted = publish(slots, args.tables, people, wanted, args.published, args.seed)
    fixed = sum(w.fixed is not None for w in wanted)
    threes = sum(len(w.people) == 3 for w in wanted)
    print(
        f"forum: {len(people)} participants, {len(slots)} slots, {args.tables} tables, "
        f"{len(wanted)} wanted meetings ({threes} of three, {fixed} published), "
        f"caps total {sum(p.cap for p in people)}, built in {time.perf_counter() - started:.1f} s"
    )

    solved = solve(
        slots,
        args.tables,
        people,
        wanted,
        time_limit=args.time_limit,
        progress=lambda m: print(f"  {m}"),
    )
    baseline = greedy(slots, args.tables, people, wanted)
    print(f"upper bound (every meeting whose people share a slot): {solved.upper_bound:.1f}")
    if solved.bound is not None:
        # No schedule weighs more than the proven bound, so this share is the most any can reach.
        reach = solved.bound / solved.upper_bound
        print(f"solver's proven bound (caps and tables too): {solved.bound:.1f}, {reach:.1%} of it")
    report("MILP (HiGHS)", solved, wanted, solved.bound)
    report("greedy", baseline, wanted, solved.bound)
    gain = solved.weight / baseline.weight - 1 if baseline.weight else 0.0
    share = solved.weight / solved.upper_bound
    more = len(solved.placed) - len(baseline.placed)
    print(f"MILP over greedy: {gain:+.2%} weight, {more:+d} meetings")
    print(
        f"goal: >= {GOAL_SHARE:.0%} of the upper bound: "
        f"{'met' if share >= GOAL_SHARE else 'MISSED'} ({share:.1%})"
    )
    print(f"goal: above greedy: {'met' if gain > 0 else 'MISSED'} ({gain:+.2%})")
    print(
        f"goal: <= {TIME_LIMIT:g} s: {'met' if solved.wall_time <= TIME_LIMIT else 'MISSED'} "
        f"({solved.wall_time:.2f} s)"
    )


if __name__ == "__main__":
    main()
