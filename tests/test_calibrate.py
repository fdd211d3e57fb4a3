"""Fitting the multilingual score maps (partnermatch.matching.calibrate) that the engine reads."""

from __future__ import annotations

import numpy as np
import pytest

from partnermatch.matching import calibrate
from partnermatch.matching.multilingual import (
    ACROSS_LANGUAGES,
    WITHIN_A_LANGUAGE,
    ScoreCalibration,
)


def unit_rows(count: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, 8))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def parallel(seed: int, items: int = 6, decoys: int = 2) -> calibrate.ParallelVectors:
    """A model's vectors of `items` items in English and Vietnamese, and English decoys."""
    english, vietnamese = unit_rows(items, seed), unit_rows(items, seed + 1)
    decoys_rows = unit_rows(decoys, seed + 2)
    return calibrate.ParallelVectors(
        {"en": english, "vi": vietnamese},
        {"en": english, "vi": vietnamese},
        decoys_rows,
        decoys_rows,
    )


def test_the_maps_send_a_distribution_onto_the_other_at_its_percentiles():
    x = np.linspace(0.70, 0.90, 2001)  # a narrow band, as multilingual-e5's cosines
    y = 5 * (x - 0.70) - 0.1  # MiniLM's spread of the same pairs

    knots = calibrate.fit_quantiles(x, y)

    assert calibrate.apply_map(knots, np.array([0.70, 0.80, 0.90])) == pytest.approx(
        [-0.1, 0.4, 0.9], abs=1e-6
    )
    assert calibrate.apply_map(knots, np.array([-1.0, 1.0])) == pytest.approx([-1.0, 1.0])
    assert np.all(np.diff(calibrate.apply_map(knots, np.linspace(-1, 1, 101))) >= 0)


def test_a_pair_of_languages_never_meets_itself_or_its_translation():
    multi, mini = parallel(1), parallel(10)
    rows = np.arange(8)  # six items, then the two English decoys

    x_en_vi, y_en_vi = calibrate.language_pair_scores(multi, mini, "en", "vi", rows)
    x_vi_vi, _ = calibrate.language_pair_scores(multi, mini, "vi", "vi", rows)
    x_en_en, _ = calibrate.language_pair_scores(multi, mini, "en", "en", rows)

    # English queries: items and decoys; Vietnamese passages: the items only; no item with
    # its own translation.
    assert len(x_en_vi) == 8 * 6 - 6
    assert len(x_vi_vi) == 6 * 6 - 6
    assert len(x_en_en) == 8 * 8 - 8
    assert np.isclose(x_en_vi, multi.queries["en"][0] @ multi.passages["vi"][1]).any()
    assert np.isclose(y_en_vi, mini.queries["en"][0] @ mini.passages["en"][1]).any()
    assert not np.isclose(x_en_vi, multi.queries["en"][0] @ multi.passages["vi"][0]).any()


def test_fitted_maps_cover_every_pair_and_the_pools_and_round_trip_through_the_file(tmp_path):
    multi, mini = parallel(1), parallel(10)

    maps = calibrate.fit_language_maps(multi, mini, np.arange(8), ("en", "vi"))
    document = calibrate.calibration_document(
        maps, model_id="test-model", fitted_by="a test", fitted_on="eight rows"
    )
    calibrate.write_calibration(tmp_path / "calibration.json", document)
    read = ScoreCalibration.read(tmp_path / "calibration.json")

    assert set(maps) == {"en>en", "en>vi", "vi>en", "vi>vi", ACROSS_LANGUAGES, WITHIN_A_LANGUAGE}
    assert all(len(cosines) == len(calibrate.LANGUAGE_MAP_LEVELS) for cosines, _ in maps.values())
    cosines, scores = read.knots("en", "vi")
    assert cosines[1:-1] == pytest.approx(maps["en>vi"][0], abs=5e-5)
    assert scores[1:-1] == pytest.approx(maps["en>vi"][1], abs=5e-5)
    # A pair the set lacks takes the map pooled across languages.
    assert read.knots("th", "es")[0][1:-1] == pytest.approx(maps[ACROSS_LANGUAGES][0], abs=5e-5)
