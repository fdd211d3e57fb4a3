"""Ranking: passage hits become one hit per profile, the legs fused, a page cut.

A profile's dense score is its best passage (cosine similarity on MiniLM's scale) plus
SUPPORT_WEIGHT for every other passage by what it scores above SUPPORT_THRESHOLD: several
passages that match make a stronger match than one lucky passage, while evidence that does
not match adds nothing. Its lexical score is its best passage's coverage of the query's
terms (partnermatch.matching.lexical). The two are fused (partnermatch.matching.fusion).
The weights are chosen on bench/bench_relevance.py's judged needs and on
bench/bench_quality.py's consortia together (README, "How matching works").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from partnermatch.matching import asks, fusion
from partnermatch.matching.passages import MAX_PASSAGES, split_passage_id
from partnermatch.matching.retrieval import DENSE, LEXICAL, Leg

SUPPORT_WEIGHT = 0.5
SUPPORT_THRESHOLD = 0.2
# What a passage that holds every informative term of the query adds to a profile's score.
LEXICAL_WEIGHT = 0.5
# Searches whose passing profiles hold at most this many passages score them all.
EXACT_POOL_PASSAGES = 20_000
# Otherwise the candidates are the owners of the nearest passages: this many per result.
CANDIDATE_FACTOR = 5
MIN_CANDIDATE_PASSAGES = 256


@dataclass(frozen=True)
class PassageHit:
    """A profile's dense score from its passages (see aggregate_passages)."""

    profile_id: int
    position: int  # the profile's best passage
    score: float  # its aggregated score
    best: float = 0.0  # the best passage's own similarity
    supporting: int = 0  # other passages above SUPPORT_THRESHOLD


@dataclass(frozen=True)
class ProfileHit:
    """One profile found by a search: the facts its explanation is made of."""

    profile_id: int
    position: int | None  # its best dense passage (None when only the lexical leg found it)
    score: float  # what it is ranked by: the legs fused, less any demotion (see roles)
    best: float  # the best dense passage's similarity
    supporting: int  # other passages above SUPPORT_THRESHOLD
    dense: float  # the dense score (best + support)
    lexical: float = 0.0  # the best passage's coverage of the query's terms
    lexical_position: int | None = None
    strength: str = "weak"  # partnermatch.matching.strength
    role: str = "provider"  # partnermatch.matching.roles (search: provider, peer, competitor)
    # each ask's (dense, lexical) score, when the query has several (see rank_profiles)
    ask_scores: tuple[tuple[float, float], ...] = ()
    answered_ask: int | None = None  # the ask it answers best
    same_need: float = 0.0  # the query against its own needs (a peer's sign)
    same_need_lexical: float = 0.0  # the same, the lexical leg's coverage
    same_offer: float = 0.0  # the searcher's offers against its offers (a competitor's sign)


def aggregate_passages(scores: np.ndarray, ids: np.ndarray) -> list[PassageHit]:
    """Combine scored passages into one hit per profile (scores sorted best first)."""
    hits: dict[int, PassageHit] = {}
    support: dict[int, float] = {}
    counts: dict[int, int] = {}
    for score, vector_id in zip(scores, ids, strict=True):
        if vector_id < 0:
            continue
        profile_id, position = split_passage_id(vector_id)
        if profile_id not in hits:
            hits[profile_id] = PassageHit(profile_id, position, float(score), float(score))
        elif score > SUPPORT_THRESHOLD:
            support[profile_id] = support.get(profile_id, 0.0) + float(score) - SUPPORT_THRESHOLD
            counts[profile_id] = counts.get(profile_id, 0) + 1
    return [
        PassageHit(
            hit.profile_id,
            hit.position,
            hit.best + SUPPORT_WEIGHT * support.get(hit.profile_id, 0.0),
            hit.best,
            counts.get(hit.profile_id, 0),
        )
        for hit in hits.values()
    ]


def best_lexical(scores: np.ndarray, ids: np.ndarray) -> dict[int, tuple[float, int]]:
    """Return each profile's best lexical coverage and that passage's position."""
    best: dict[int, tuple[float, int]] = {}
    for score, vector_id in zip(scores, ids, strict=True):
        if vector_id < 0 or score <= 0:
            continue
        profile_id, position = split_passage_id(vector_id)
        if profile_id not in best:
            best[profile_id] = (float(score), position)
    return best


@dataclass(frozen=True)
class Fusion:
    """How the legs are fused: "weighted" (the default) or "rrf" (see fusion)."""

    method: str = "weighted"
    lexical_weight: float = LEXICAL_WEIGHT


DEFAULT_FUSION = Fusion()


def _text_rows(
    found: Sequence[tuple[Leg, tuple[np.ndarray, np.ndarray]]], kind: str, text: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The rows of the legs of a kind that searched one of the query's texts."""
    rows = []
    for leg, (scores, ids) in found:
        if leg.kind != kind:
            continue
        positions = leg.positions if leg.positions is not None else tuple(range(len(ids)))
        rows += [(scores[row], ids[row]) for row, at in enumerate(positions) if at == text]
    return rows


def _rank_text(
    found: Sequence[tuple[Leg, tuple[np.ndarray, np.ndarray]]], text: int
) -> tuple[dict[int, PassageHit], dict[int, tuple[float, int]]]:
    """Each profile's dense hit and best lexical passage for one of the query's texts."""
    dense = _text_rows(found, DENSE, text)
    by_dense: dict[int, PassageHit] = {}
    if dense:
        scores = np.concatenate([row_scores for row_scores, _ in dense])
        ids = np.concatenate([row_ids for _, row_ids in dense])
        order = np.argsort(-scores, kind="stable")
        by_dense = {hit.profile_id: hit for hit in aggregate_passages(scores[order], ids[order])}
    by_lexical: dict[int, tuple[float, int]] = {}
    for row_scores, row_ids in _text_rows(found, LEXICAL, text):
        for profile_id, value in best_lexical(row_scores, row_ids).items():
            if value[0] > by_lexical.get(profile_id, (0.0, 0))[0]:
                by_lexical[profile_id] = value
    return by_dense, by_lexical


def _fuse(
    by_dense: dict[int, PassageHit], by_lexical: dict[int, tuple[float, int]], how: Fusion
) -> dict[int, float]:
    dense_scores = {pid: hit.score for pid, hit in by_dense.items()}
    lexical_scores = {pid: value[0] for pid, value in by_lexical.items()}
    if how.method == "rrf":
        return fusion.reciprocal_rank(dense_scores, lexical_scores)
    return fusion.weighted_sum(dense_scores, lexical_scores, how.lexical_weight)


def rank_profiles(
    found: Sequence[tuple[Leg, tuple[np.ndarray, np.ndarray]]],
    how: Fusion = DEFAULT_FUSION,
    ask_count: int = 0,
) -> list[ProfileHit]:
    """Rank the profiles the legs found, best first.

    Text 0 is the whole query; with `ask_count`, texts 1 to ask_count are its asks (the main one
    first, see partnermatch.matching.asks), and a profile scores the best of the whole
    query's fused score and each ask's, a side ask's weighted by SIDE_ASK_WEIGHT.
    """
    by_dense, by_lexical = _rank_text(found, 0)
    fused = _fuse(by_dense, by_lexical, how)
    per_ask = []
    for ask in range(1, ask_count + 1):
        ask_dense, ask_lexical = _rank_text(found, ask)
        per_ask.append(
            {pid: (hit.score, ask_lexical.get(pid, (0.0, 0))[0]) for pid, hit in ask_dense.items()}
            | {pid: (0.0, value[0]) for pid, value in ask_lexical.items() if pid not in ask_dense}
        )
    hits = []
    for profile_id in fused.keys() | {pid for ask in per_ask for pid in ask}:
        dense_hit = by_dense.get(profile_id)
        lexical_hit = by_lexical.get(profile_id)
        ask_scores = tuple(ask.get(profile_id, (0.0, 0.0)) for ask in per_ask)
        score, answered = combine_asks(fused.get(profile_id, 0.0), ask_scores, how)
        hits.append(
            ProfileHit(
                profile_id=profile_id,
                position=dense_hit.position if dense_hit else None,
                score=score,
                best=dense_hit.best if dense_hit else 0.0,
                supporting=dense_hit.supporting if dense_hit else 0,
                dense=dense_hit.score if dense_hit else 0.0,
                lexical=lexical_hit[0] if lexical_hit else 0.0,
                lexical_position=lexical_hit[1] if lexical_hit else None,
                ask_scores=ask_scores,
                answered_ask=answered,
            )
        )
    hits.sort(key=lambda hit: (-hit.score, hit.profile_id))
    return hits


def combine_asks(
    whole: float, ask_scores: Sequence[tuple[float, float]], how: Fusion
) -> tuple[float, int | None]:
    """Return a profile's score from the whole query's fused score and each ask's (dense,
    lexical) score, and which ask it answers best (None: a single ask)."""
    if not ask_scores:
        return whole, None
    weighted = [
        asks.ask_weight(number) * (dense + how.lexical_weight * lexical)
        for number, (dense, lexical) in enumerate(ask_scores)
    ]
    answered = int(np.argmax(weighted))
    return max(whole, weighted[answered]), answered


def candidate_pool(
    leg: Leg,
    search: Callable[[Leg, int, list[int] | None], tuple[np.ndarray, np.ndarray]],
    among: list[int] | None,
    wanted: int,
    available: int,
) -> list[int]:
    """Return the profiles owning a leg's nearest passages: at least CANDIDATE_FACTOR x
    wanted of them, or all that it finds."""
    if available == 0:
        return []
    k = min(available, max(wanted * CANDIDATE_FACTOR * 2, MIN_CANDIDATE_PASSAGES))
    while True:
        _, ids = search(leg, k, among)
        pool = list(dict.fromkeys(int(v) // MAX_PASSAGES for v in ids[0] if v >= 0))
        exhausted = k >= available or (leg.kind == LEXICAL and (ids[0] >= 0).sum() < k)
        if len(pool) >= wanted * CANDIDATE_FACTOR or exhausted:
            return pool
        k = min(available, k * 4)
