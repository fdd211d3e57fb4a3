"""Meeting schedule: place wanted meetings into time slots and tables, best total weight.

The model. An event's sessions are cut into slots of one meeting's length (`slots_from_sessions`).
Each person attends some slots and accepts at most ``cap`` meetings. Each wanted meeting
gathers two or three people (an SME, a lab and a government programme at one table) and has
a weight set by the caller (accepted requests highest, then mutual "must meet", then "would
meet" times their fit). One binary variable per meeting and slot that all its people attend
says whether the meeting takes place in that slot; the chosen pairs maximise the total weight
subject to:

1. a meeting takes place at most once;
2. nobody is in two meetings in one slot (a row per person and slot);
3. nobody has more than ``cap`` meetings;
4. no slot holds more meetings than there are tables;
5. a fixed meeting (already published) keeps its slot and its table.

Tables are interchangeable, so they are a capacity per slot in the model and are numbered
afterwards, within each slot: fixed meetings keep theirs, the others take the lowest free
numbers in meeting id order. That is the decomposition the issue suggests (which meetings go
in which slot, then tables), and it loses nothing: any slot assignment that respects the
capacity can be given tables. One variable per (meeting, slot, table) would multiply the model
by the number of tables and add symmetry for nothing.

The solver. HiGHS through `scipy.optimize.milp`, as in `assign.py`. Rows 2 hold one person's
meetings in one slot, so they are cliques, which keeps the LP relaxation tight; rows 1 and 3
make the rest a b-matching with side constraints. Measured by bench/bench_schedule.py: at the
issue's size (500 participants attending 1 or 2 of 4 sessions, 4,000 requests, some 16,000
binaries) HiGHS proves the optimum in a few seconds, a few per cent above greedy, so the model
is not decomposed further. When everyone attends 2 to 4 sessions (some 70,000 binaries) the
root LP does not finish within 30 s and the best schedule found is returned; aggregating the
slots that the same people attend (interchangeable, like tables) would be the next step for
forums of that size. Larger still, HiGHS overruns its own limit (1,000 people attending every
session, 256,000 binaries: 125 s for a limit of 28 s, no schedule found, greedy returned), so
the limit is no hard bound on the wall time there. A time limit bounds the solve: when it is
reached, HiGHS's best solution is returned with status FEASIBLE (the greedy schedule instead,
when it weighs more), and when HiGHS has none, the greedy schedule is returned with status
HEURISTIC. Either way the schedule is then filled: every meeting still unplaced that fits
somewhere is placed, best first, so that an unplaced meeting always has one of the reasons
below.

Reasons for an unplaced meeting, read from the final schedule, first that applies:
``no_common_slot`` (its people share no slot they attend), ``cap_reached`` (one of them has
``cap`` meetings), ``no_table`` (in every slot they all still have free, the tables are taken)
and ``conflict`` (in each slot they share, one of them meets someone else: the optimum preferred
those meetings).

`greedy` is the baseline: fixed meetings first, then the others by descending weight, each in
the earliest slot where it fits. `Schedule.upper_bound` is the total weight of the meetings
whose people share a slot; `Schedule.bound` is the solver's proven bound, which also counts caps
and tables, and so is the tighter of the two.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from partnermatch.matching.assign import Status

DEFAULT_TIME_LIMIT = 20.0
MEETING_SIZES = (2, 3)

Progress = Callable[[str], None]


class Reason(StrEnum):
    """Why a wanted meeting is not in the schedule (codes; the caller words them)."""

    NO_COMMON_SLOT = "no_common_slot"
    CAP_REACHED = "cap_reached"
    NO_TABLE = "no_table"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Slot:
    """One meeting's time: slots are numbered from 0 in time order."""

    index: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Person:
    """A participant: the slots it attends and the most meetings it accepts."""

    id: int
    free_slots: frozenset[int]
    cap: int


@dataclass(frozen=True)
class Wanted:
    """A meeting to place: two or three people; ``fixed`` is (slot, table) when published."""

    id: int
    people: tuple[int, ...]
    weight: float
    fixed: tuple[int, int] | None = None


@dataclass(frozen=True)
class Schedule:
    placed: dict[int, tuple[int, int]]  # meeting id -> (slot index, table index)
    unplaced: dict[int, str]  # meeting id -> a `Reason` code
    weight: float  # total weight of the placed meetings
    upper_bound: float  # total weight of the meetings whose people share a slot
    status: str  # a `Status`: optimal, feasible (stopped at the time limit) or heuristic
    bound: float | None = None  # the solver's proven bound on the weight (None from greedy)
    message: str = ""
    wall_time: float = 0.0  # seconds, preparation included


def slots_from_sessions(
    sessions: Iterable[tuple[datetime, datetime]], meeting_minutes: int
) -> list[Slot]:
    """Cut sessions into slots of one meeting's length; a slot never crosses a session's end.

    Sessions are (start, end) pairs in UTC; what is left at a session's end, shorter than a
    meeting, is not a slot. Overlapping sessions are refused.
    """
    if meeting_minutes <= 0:
        raise ValueError(f"meeting_minutes must be positive, not {meeting_minutes}")
    length = timedelta(minutes=meeting_minutes)
    ordered = sorted(sessions)
    for start, end in ordered:
        if end <= start:
            raise ValueError(f"a session must end after it starts: {start} to {end}")
    for (_, end), (start, _) in itertools.pairwise(ordered):
        if start < end:
            raise ValueError(f"sessions overlap: one ends at {end}, the next starts at {start}")
    slots: list[Slot] = []
    for start, end in ordered:
        begin = start
        while begin + length <= end:
            slots.append(Slot(len(slots), begin, begin + length))
            begin += length
    return slots


@dataclass
class _Problem:
    """The validated instance: meetings in a fixed order with their common slots."""

    slots: int
    tables: int
    ids: list[int]  # meeting ids, by position
    people: list[tuple[int, ...]]  # person positions of each meeting
    weight: np.ndarray
    common: list[tuple[int, ...]]  # slots all of a meeting's people attend, in order
    fixed: dict[int, tuple[int, int]]  # meeting position -> (slot, table)
    caps: np.ndarray  # per person position
    upper_bound: float


def _prepare(
    slots: Sequence[Slot], tables: int, people: Sequence[Person], wanted: Sequence[Wanted]
) -> _Problem:
    if tables < 0:
        raise ValueError(f"tables must be at least 0, not {tables}")
    slot_count = len(slots)
    if [slot.index for slot in slots] != list(range(slot_count)):
        raise ValueError("slots must be numbered 0, 1, 2, ... in order")
    position: dict[int, int] = {}
    free: list[frozenset[int]] = []
    for person in people:
        if person.id in position:
            raise ValueError(f"person {person.id} is listed twice")
        if person.cap < 0:
            raise ValueError(f"person {person.id}: cap must be at least 0, not {person.cap}")
        outside = [s for s in person.free_slots if not 0 <= s < slot_count]
        if outside:
            raise ValueError(f"person {person.id}: no slot {outside[0]}")
        position[person.id] = len(free)
        free.append(person.free_slots)
    caps = np.array([person.cap for person in people], dtype=np.int64)

    ids: list[int] = []
    members: list[tuple[int, ...]] = []
    weights: list[float] = []
    common: list[tuple[int, ...]] = []
    fixed: dict[int, tuple[int, int]] = {}
    seen: set[int] = set()
    for meeting in wanted:
        if meeting.id in seen:
            raise ValueError(f"meeting {meeting.id} is listed twice")
        seen.add(meeting.id)
        if len(meeting.people) not in MEETING_SIZES or len(set(meeting.people)) != len(
            meeting.people
        ):
            raise ValueError(
                f"meeting {meeting.id}: two or three different people, not {meeting.people}"
            )
        unknown = [p for p in meeting.people if p not in position]
        if unknown:
            raise ValueError(f"meeting {meeting.id}: no person {unknown[0]}")
        if not math.isfinite(meeting.weight) or meeting.weight <= 0:
            raise ValueError(f"meeting {meeting.id}: weight must be positive, not {meeting.weight}")
        at = tuple(position[p] for p in meeting.people)
        shared = frozenset.intersection(*(free[p] for p in at))
        if meeting.fixed is not None:
            slot, table = meeting.fixed
            if slot not in shared:
                raise ValueError(
                    f"meeting {meeting.id} is fixed in slot {slot}, which not all its people attend"
                )
            if not 0 <= table < tables:
                raise ValueError(f"meeting {meeting.id} is fixed at table {table}, of {tables}")
            fixed[len(ids)] = (slot, table)
        ids.append(meeting.id)
        members.append(at)
        weights.append(float(meeting.weight))
        common.append(tuple(sorted(shared)))

    weight = np.array(weights, dtype=np.float64)
    problem = _Problem(
        slots=slot_count,
        tables=tables,
        ids=ids,
        people=members,
        weight=weight,
        common=common,
        fixed=fixed,
        caps=caps,
        upper_bound=float(sum(w for w, c in zip(weights, common, strict=True) if c)),
    )
    # The fixed meetings alone must be a valid schedule.
    state = _State(problem)
    for m, (slot, table) in sorted(fixed.items(), key=lambda item: item[1]):
        if (slot, table) in state.tables_taken:
            raise ValueError(f"two fixed meetings at table {table} in slot {slot}")
        broken = state.fits(m, slot)
        if broken is not None:
            raise ValueError(f"the fixed meeting {ids[m]} breaks a rule: {broken}")
        state.place(m, slot, table)
    return problem


class _State:
    """A schedule being built: who is busy when, meetings per person and per slot."""

    def __init__(self, problem: _Problem) -> None:
        self.problem = problem
        self.slot_of: dict[int, int] = {}
        self.table_of: dict[int, int] = {}
        self.busy: set[tuple[int, int]] = set()  # (person, slot)
        self.meetings = np.zeros(len(problem.caps), dtype=np.int64)
        self.in_slot = np.zeros(problem.slots, dtype=np.int64)
        self.tables_taken: set[tuple[int, int]] = set()

    def fits(self, m: int, slot: int) -> Reason | None:
        """Return why meeting m cannot go in this slot now, or None when it can."""
        people = self.problem.people[m]
        if any(self.meetings[p] >= self.problem.caps[p] for p in people):
            return Reason.CAP_REACHED
        if any((p, slot) in self.busy for p in people):
            return Reason.CONFLICT
        if self.in_slot[slot] >= self.problem.tables:
            return Reason.NO_TABLE
        return None

    def place(self, m: int, slot: int, table: int | None = None) -> None:
        self.slot_of[m] = slot
        for p in self.problem.people[m]:
            self.busy.add((p, slot))
            self.meetings[p] += 1
        self.in_slot[slot] += 1
        if table is not None:
            self.table_of[m] = table
            self.tables_taken.add((slot, table))

    def fill(self, order: Iterable[int]) -> None:
        """Place each meeting of ``order`` not yet placed in the earliest slot where it fits."""
        for m in order:
            if m in self.slot_of:
                continue
            for slot in self.problem.common[m]:
                if self.fits(m, slot) is None:
                    self.place(m, slot)
                    break

    def reason(self, m: int) -> Reason:
        """Return why an unplaced meeting is not in the finished schedule."""
        common = self.problem.common[m]
        if not common:
            return Reason.NO_COMMON_SLOT
        people = self.problem.people[m]
        if any(self.meetings[p] >= self.problem.caps[p] for p in people):
            return Reason.CAP_REACHED
        open_slots = [s for s in common if not any((p, s) in self.busy for p in people)]
        if open_slots and all(self.in_slot[s] >= self.problem.tables for s in open_slots):
            return Reason.NO_TABLE
        return Reason.CONFLICT

    def weight(self) -> float:
        return float(sum(self.problem.weight[m] for m in self.slot_of))

    def schedule(
        self, status: Status, message: str, started: float, bound: float | None = None
    ) -> Schedule:
        problem = self.problem
        # Number the tables within each slot: fixed meetings keep theirs.
        placed: dict[int, tuple[int, int]] = {}
        by_slot: dict[int, list[int]] = {}
        for m in sorted(self.slot_of, key=lambda m: problem.ids[m]):
            by_slot.setdefault(self.slot_of[m], []).append(m)
        for slot, meetings in by_slot.items():
            taken = {self.table_of[m] for m in meetings if m in self.table_of}
            free_tables = (t for t in range(problem.tables) if t not in taken)
            for m in meetings:
                table = self.table_of[m] if m in self.table_of else next(free_tables)
                placed[problem.ids[m]] = (slot, table)
        unplaced = {
            problem.ids[m]: str(self.reason(m))
            for m in range(len(problem.ids))
            if m not in self.slot_of
        }
        return Schedule(
            placed=placed,
            unplaced=unplaced,
            weight=self.weight(),
            upper_bound=problem.upper_bound,
            status=str(status),
            bound=bound,
            message=message,
            wall_time=time.perf_counter() - started,
        )


def _by_weight(problem: _Problem) -> list[int]:
    """Return meeting positions by descending weight, then by id."""
    return sorted(range(len(problem.ids)), key=lambda m: (-problem.weight[m], problem.ids[m]))


def _with_fixed(problem: _Problem) -> _State:
    state = _State(problem)
    for m, (slot, table) in problem.fixed.items():
        state.place(m, slot, table)
    return state


def greedy(
    slots: Sequence[Slot], tables: int, people: Sequence[Person], wanted: Sequence[Wanted]
) -> Schedule:
    """Place fixed meetings, then the others by descending weight, each in its earliest slot.

    The baseline for `solve`.
    """
    started = time.perf_counter()
    problem = _prepare(slots, tables, people, wanted)
    state = _with_fixed(problem)
    state.fill(_by_weight(problem))
    return state.schedule(Status.HEURISTIC, "greedy, by descending weight", started)


def _variables(problem: _Problem, state: _State) -> tuple[np.ndarray, np.ndarray]:
    """Return the (meeting, slot) pairs still open once the fixed meetings are placed."""
    meeting_col: list[int] = []
    slot_col: list[int] = []
    for m, common in enumerate(problem.common):
        if m in problem.fixed:
            continue
        for slot in common:
            if state.fits(m, slot) is None:
                meeting_col.append(m)
                slot_col.append(slot)
    return np.array(meeting_col, dtype=np.int64), np.array(slot_col, dtype=np.int64)


def _constraints(
    problem: _Problem, state: _State, meeting: np.ndarray, slot: np.ndarray
) -> LinearConstraint | None:
    """Build rows 1 to 4 over the open pairs, leaving out rows that can never bind."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    count = 0

    def add_caps(group: np.ndarray, limit: np.ndarray, variables: np.ndarray, size: int) -> None:
        # A row binds when its group holds more variables (or meetings) than its limit.
        nonlocal count
        binding = np.bincount(group, minlength=size) > limit
        row_of_group = np.cumsum(binding) - 1 + count
        keep = binding[group]
        rows.append(row_of_group[group[keep]])
        cols.append(variables[keep])
        upper.append(limit[binding].astype(np.float64))
        count += int(binding.sum())

    everything = np.arange(len(meeting))
    add_caps(meeting, np.ones(len(problem.ids), dtype=np.int64), everything, len(problem.ids))
    room = problem.tables - state.in_slot
    add_caps(slot, room, everything, problem.slots)

    # Each meeting's variables, once per person of the meeting.
    sizes = np.array([len(problem.people[m]) for m in meeting.tolist()], dtype=np.int64)
    person = np.array([p for m in meeting.tolist() for p in problem.people[m]], dtype=np.int64)
    variable = np.repeat(everything, sizes)
    add_caps(
        person * problem.slots + np.repeat(slot, sizes),
        np.ones(len(problem.caps) * problem.slots, dtype=np.int64),
        variable,
        len(problem.caps) * problem.slots,
    )
    # A cap binds when a person has more candidate meetings than meetings left.
    left = problem.caps - state.meetings
    meetings_of = np.zeros(len(problem.caps), dtype=np.int64)
    for m in np.unique(meeting).tolist():
        for p in problem.people[m]:
            meetings_of[p] += 1
    binding = meetings_of > left
    row_of_person = np.cumsum(binding) - 1 + count
    keep = binding[person]
    rows.append(row_of_person[person[keep]])
    cols.append(variable[keep])
    upper.append(left[binding].astype(np.float64))
    count += int(binding.sum())

    if count == 0:
        return None
    data = np.ones(sum(len(c) for c in cols))
    matrix = coo_array(
        (data, (np.concatenate(rows), np.concatenate(cols))), shape=(count, len(meeting))
    ).tocsr()
    return LinearConstraint(matrix, np.full(count, -np.inf), np.concatenate(upper))


def solve(
    slots: Sequence[Slot],
    tables: int,
    people: Sequence[Person],
    wanted: Sequence[Wanted],
    time_limit: float = DEFAULT_TIME_LIMIT,
    progress: Progress | None = None,
) -> Schedule:
    """Place the meetings of highest total weight that keep every rule, with HiGHS."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, not {time_limit}")
    started = time.perf_counter()
    problem = _prepare(slots, tables, people, wanted)
    state = _with_fixed(problem)
    fixed_weight = state.weight()
    meeting, slot = _variables(problem, state)
    if progress:
        progress(
            f"schedule: {len(problem.ids)} meetings ({len(problem.fixed)} fixed), "
            f"{len(meeting)} open (meeting, slot) pairs"
        )
    if not len(meeting):
        return state.schedule(Status.OPTIMAL, "nothing left to place", started, fixed_weight)

    constraints = _constraints(problem, state, meeting, slot)
    if progress:
        rows = constraints.A.shape[0] if constraints is not None else 0
        progress(f"HiGHS: {len(meeting)} binaries, {rows} rows, limit {time_limit:g} s")
    remaining = max(time_limit - (time.perf_counter() - started), 0.01)
    solution = milp(
        -problem.weight[meeting],
        integrality=np.ones(len(meeting)),
        bounds=Bounds(0, 1),
        constraints=constraints,
        options={"time_limit": remaining, "disp": False},
    )
    dual = getattr(solution, "mip_dual_bound", None)
    bound = fixed_weight - dual if dual is not None and math.isfinite(dual) else None
    if bound is not None:
        # Before its root LP is solved, HiGHS's bound can exceed the trivial one.
        bound = min(bound, problem.upper_bound)

    baseline = _with_fixed(problem)
    order = _by_weight(problem)
    baseline.fill(order)
    if solution.status == 0:
        status, message = Status.OPTIMAL, f"HiGHS: {solution.message}"
    elif solution.x is not None:
        status, message = Status.FEASIBLE, f"HiGHS stopped ({solution.message}): best found"
    else:
        status = Status.HEURISTIC
        message = f"HiGHS found no schedule ({solution.message}): greedy schedule instead"
    if solution.x is not None:
        for p in np.flatnonzero(solution.x > 0.5).tolist():
            state.place(int(meeting[p]), int(slot[p]))
        state.fill(order)
        if status == Status.FEASIBLE and baseline.weight() > state.weight():
            state, message = baseline, message + "; the greedy schedule weighs more, kept"
    else:
        state = baseline
    if bound is not None and status == Status.OPTIMAL:
        bound = max(bound, state.weight())
    result = state.schedule(status, message, started, bound)
    if progress:
        progress(f"{status}: weight {result.weight:.3f} in {result.wall_time:.2f} s")
    return result
