"""Short items matched against each other as passages are: by the cosine of their vectors.

An event's marketplace pairs what one participant seeks with what others offer (and the
other way round). The embedder is injected (the engine's, or a fake in tests); texts go
through its passage cache, so an item is encoded once, when it is first seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def best_counterparts(
    encoder: TextEncoder,
    items: Sequence[str],
    candidates: Sequence[str],
    limit: int = 3,
    floor: float = 0.0,
) -> list[list[tuple[int, float]]]:
    """For each item, the indices of its `limit` closest candidates with their cosine,
    best first, leaving out those below `floor`."""
    if not items or not candidates:
        return [[] for _ in items]
    vectors = encoder.encode_passages([*items, *candidates])
    scores = vectors[: len(items)] @ vectors[len(items) :].T
    found = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:limit]
        found.append([(int(j), float(row[j])) for j in order if row[j] >= floor])
    return found
