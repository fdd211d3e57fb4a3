"""Fit the maps that put the multilingual model's cosines on MiniLM's scale (calibration.json).

`multilingual.ScoreCalibration` reads the maps; this module makes them (see multilingual for
why there is one map per pair of languages). The input is a parallel set: items that each say
the same thing in every language, plus English decoys, every text encoded by both models as a
query and as a passage. For a (query language, passage language) pair, the multilingual
model's cosine of every pair of different texts, the query read in the one language and the
passage in the other, is set against MiniLM's cosine of the same two texts read in English; the
pair's map is made of the two distributions' percentiles at LANGUAGE_MAP_LEVELS, with straight
lines between. A text never meets itself or its own translation, so a map learns how a pair of
languages spreads unrelated and related texts, not where translations fall.

bench/bench_multilingual.py fits the maps on bench/multilingual/ (`--write-calibration`) and
measures them on held-out items. Nothing here loads a model or knows of Flask.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partnermatch.matching.multilingual import (
    ACROSS_LANGUAGES,
    WITHIN_A_LANGUAGE,
    calibration_key,
)

# A map: the knots (multilingual cosines, MiniLM scores) at the same percentiles.
Knots = tuple[np.ndarray, np.ndarray]

# Every 5th percentile, then finer in the top tenth, where the pairs that matter lie
# (translations and near-misses) and 5% steps left one straight line across them.
LANGUAGE_MAP_LEVELS = np.r_[np.linspace(0, 90, 19), 92, 94, 96, 97, 98, 99, 99.5, 100]


@dataclass(frozen=True)
class ParallelVectors:
    """One model's vectors of a parallel set: per language, the items (in item order) read as
    queries and as passages; the English decoys come after the items as rows n, n+1, ..."""

    queries: Mapping[str, np.ndarray]
    passages: Mapping[str, np.ndarray]
    decoy_passages: np.ndarray
    decoy_queries: np.ndarray

    @property
    def items(self) -> int:
        return len(self.queries["en"])


def fit_quantiles(x: np.ndarray, y: np.ndarray, levels: np.ndarray = LANGUAGE_MAP_LEVELS) -> Knots:
    """Return the knots of the monotonic map from x's distribution onto y's: their
    percentiles at `levels`."""
    return np.percentile(x, levels), np.percentile(y, levels)


def apply_map(knots: Knots, cosines: np.ndarray) -> np.ndarray:
    """Map cosines through the knots, -1 and 1 fixed, straight lines between (as the engine)."""
    return np.interp(cosines, np.r_[-1.0, knots[0], 1.0], np.r_[-1.0, knots[1], 1.0])


def _texts(vectors: ParallelVectors, language: str, rows: np.ndarray, *, as_queries: bool):
    """The vectors of `rows` (items, then decoys) read in `language`: decoys exist in English
    only, so other languages keep the item rows."""
    items = vectors.queries[language] if as_queries else vectors.passages[language]
    if language != "en":
        return items[rows[rows < len(items)]]
    decoys = vectors.decoy_queries if as_queries else vectors.decoy_passages
    return np.vstack([items, decoys])[rows]


def language_pair_scores(
    multi: ParallelVectors,
    mini: ParallelVectors,
    query_language: str,
    passage_language: str,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (multilingual cosine, MiniLM cosine) of every pair of different texts among
    `rows`: the query read in one language and the passage in the other by the multilingual
    model, both read in English by MiniLM. A text never meets itself or its translation."""
    n = multi.items
    query_rows = rows if query_language == "en" else rows[rows < n]
    passage_rows = rows if passage_language == "en" else rows[rows < n]
    x = (
        _texts(multi, query_language, query_rows, as_queries=True)
        @ _texts(multi, passage_language, passage_rows, as_queries=False).T
    )
    y = (
        _texts(mini, "en", query_rows, as_queries=True)
        @ _texts(mini, "en", passage_rows, as_queries=False).T
    )
    keep = query_rows[:, None] != passage_rows[None, :]
    return x[keep], y[keep]


def fit_language_maps(
    multi: ParallelVectors,
    mini: ParallelVectors,
    rows: np.ndarray,
    languages: Sequence[str],
    levels: np.ndarray = LANGUAGE_MAP_LEVELS,
) -> dict[str, Knots]:
    """Fit a map per (query, passage) pair of `languages` on `rows` (item and decoy rows),
    plus the maps pooled over the pairs across languages and within one, which the engine
    uses for a pair the set lacks."""
    rows = np.asarray(rows)
    maps: dict[str, Knots] = {}
    pooled: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for query_language in languages:
        for passage_language in languages:
            x, y = language_pair_scores(multi, mini, query_language, passage_language, rows)
            maps[calibration_key(query_language, passage_language)] = fit_quantiles(x, y, levels)
            pool = WITHIN_A_LANGUAGE if query_language == passage_language else ACROSS_LANGUAGES
            pooled.setdefault(pool, []).append((x, y))
    for key, pairs in pooled.items():
        x, y = (np.concatenate(part) for part in zip(*pairs, strict=True))
        maps[key] = fit_quantiles(x, y, levels)
    return maps


def calibration_document(
    maps: Mapping[str, Knots], *, model_id: str, fitted_by: str, fitted_on: str
) -> dict[str, Any]:
    """Return the maps as calibration.json holds them (knots rounded to 4 decimals)."""
    return {
        "model_id": model_id,
        "fitted_by": fitted_by,
        "fitted_on": fitted_on,
        "maps": {
            key: {
                "cosine": [round(float(value), 4) for value in cosines],
                "minilm": [round(float(value), 4) for value in scores],
            }
            for key, (cosines, scores) in maps.items()
        },
    }


def write_calibration(path: Path, document: Mapping[str, Any]) -> None:
    """Write a calibration document where ScoreCalibration.read finds it."""
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
