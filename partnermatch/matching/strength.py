"""How strong a match is: strong, good or weak, from measured score distributions.

A band is a threshold on a match's strength score: for a search, the best passage's
similarity on MiniLM's scale plus the lexical leg's weighted coverage (support from further
passages is left out: much loosely related evidence is not a strong match); for a
recommendation, the stronger of its need factor (the same score, for its best ask) and its
return, so one set of bands serves both. The multilingual model's cosines are mapped
onto MiniLM's scale per pair of languages before this (partnermatch.matching.multilingual),
so the bands hold for each model and language pair the maps were fitted on.

The thresholds are fitted by fit_thresholds on judged matches (bench/bench_relevance.py
--write-strength writes strength.json): `good` is the lowest threshold above which at least
GOOD_PRECISION of the judged matches are relevant (grade 2 or 3) and that no off-topic need
reaches; `strong` the same with STRONG_PRECISION.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

STRONG = "strong"
GOOD = "good"
WEAK = "weak"
BANDS = (WEAK, GOOD, STRONG)  # weakest first
STRENGTH_FILE = Path(__file__).with_name("strength.json")
GOOD_PRECISION = 0.6
STRONG_PRECISION = 0.85
# An off-topic need's best score must stay this far below `good`.
OFFTOPIC_MARGIN = 0.02


def rank(strength: str) -> int:
    """Return a band's place, weakest first (an unknown band counts as weak)."""
    return BANDS.index(strength) if strength in BANDS else 0


def at_least(strength: str, floor: str) -> bool:
    """True when a band is the floor or stronger."""
    return rank(strength) >= rank(floor)


def check_band(value: str, field: str = "min_strength") -> str:
    """Return a band's name, or raise ValueError naming the field."""
    if value not in BANDS:
        raise ValueError(f"{field} must be one of {', '.join(BANDS)}")
    return value


@dataclass(frozen=True)
class Thresholds:
    good: float
    strong: float

    def band(self, score: float) -> str:
        if score >= self.strong:
            return STRONG
        return GOOD if score >= self.good else WEAK


@dataclass(frozen=True)
class StrengthBands:
    search: Thresholds
    recommend: Thresholds
    fitted_on: str = ""

    @classmethod
    def read(cls, path: Path = STRENGTH_FILE) -> StrengthBands:
        data = json.loads(path.read_text())
        return cls(
            Thresholds(**data["search"]), Thresholds(**data["recommend"]), data.get("fitted_on", "")
        )

    def write(self, path: Path = STRENGTH_FILE) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


@cache
def get_bands() -> StrengthBands:
    """Return the shipped bands (read once per process)."""
    return StrengthBands.read()


def _lowest_threshold(scores: np.ndarray, relevant: np.ndarray, precision: float) -> float:
    """The lowest score s such that, of the judged matches scoring s or more, at least
    `precision` are relevant (and every higher threshold keeps that precision)."""
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_relevant = scores[order], relevant[order]
    hits = np.cumsum(ranked_relevant)
    precisions = hits / np.arange(1, len(ranked_scores) + 1)
    # walking down from the top, the last place where precision still holds, as long as it
    # has held all the way (a threshold that only works by accident further down is no use)
    holds = np.minimum.accumulate(precisions >= precision)
    if not holds.any():
        return float(ranked_scores[0]) + 1e-6 if len(ranked_scores) else 1.0
    last = int(np.flatnonzero(holds)[-1])
    return float(ranked_scores[last])


def fit_thresholds(
    scores: Sequence[float],
    relevant: Sequence[bool],
    offtopic_best: Sequence[float] = (),
    good_precision: float = GOOD_PRECISION,
    strong_precision: float = STRONG_PRECISION,
) -> Thresholds:
    """Fit `good` and `strong` on judged matches (their scores and whether each is
    relevant) and the best scores off-topic needs reached (see the module)."""
    values = np.asarray(scores, dtype=float)
    judged = np.asarray(relevant, dtype=bool)
    good = _lowest_threshold(values, judged, good_precision)
    if len(offtopic_best):
        good = max(good, float(np.max(offtopic_best)) + OFFTOPIC_MARGIN)
    strong = max(_lowest_threshold(values, judged, strong_precision), good)
    return Thresholds(round(good, 4), round(strong, 4))
