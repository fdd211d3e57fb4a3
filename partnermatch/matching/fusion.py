"""Fusing the dense and lexical legs' per-profile scores into one ranking.

Two well-known ways, both measured by bench/bench_relevance.py (README, "Words and meaning"):

- a weighted sum of calibrated scores: dense (MiniLM's scale, see ranking) plus `weight` x
  lexical coverage (0 to 1). Scores keep a meaning across queries, which the strength bands
  need, so this is what the engine ships;
- reciprocal rank fusion (Cormack, Clarke and Buettcher, 2009): the sum over legs of
  1 / (k + rank), k = 60. It ignores the scores' scales, and so their meaning.
"""

from __future__ import annotations

from collections.abc import Mapping

RRF_K = 60


def weighted_sum(
    dense: Mapping[int, float], lexical: Mapping[int, float], weight: float
) -> dict[int, float]:
    """Return dense + weight x lexical for every profile either leg found."""
    return {
        profile_id: dense.get(profile_id, 0.0) + weight * lexical.get(profile_id, 0.0)
        for profile_id in dense.keys() | lexical.keys()
    }


def reciprocal_rank(*rankings: Mapping[int, float], k: int = RRF_K) -> dict[int, float]:
    """Return each profile's reciprocal rank fusion score over the rankings (by score)."""
    fused: dict[int, float] = {}
    for scores in rankings:
        ordered = sorted(scores, key=lambda profile_id: -scores[profile_id])
        for rank, profile_id in enumerate(ordered, start=1):
            fused[profile_id] = fused.get(profile_id, 0.0) + 1.0 / (k + rank)
    return fused
