"""Measure search and recommendation relevance on a judged set over the demo programme.

The judged set (`bench/relevance/`, see its README) was written by an independent judge who
never saw the engine's output: 122 search needs graded 0-3 against every demo profile, with
the profiles that have the same need (peers) or offer what the asker offers (competitors),
10 off-topic needs, and 15 asking profiles with the partners a broker would recommend.

Printed, in one run, for the shipped engine (both legs fused, roles and demotion), the dense
leg alone (as the engine ranked before the lexical leg and roles) and the lexical leg alone
(BM25): nDCG@5 (gains 2^grade - 1), P@3 (grade 2 or 3), MRR (first grade 2 or 3), the share
of needs with a peer or competitor in the top 3, and how many off-topic needs show a strong
or good match; the same for the recommendations of the 15 askers.

Settings (the lexical weight, the role demotion and thresholds) and the strength bands are
chosen on one half of the judged needs (odd ids, then even) and reported on the other
(`--choose`, replaying one search per need); `--write-strength` fits the shipped bands on all
the judged needs (the same bands serve recommendations, whose need factor is on the search's
scale) and writes partnermatch/matching/strength.json.

Run from the repository root:

    .venv/bin/python bench/bench_relevance.py [--embedding-cache FILE] [--choose] [--write-strength]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from partnermatch import create_app
from partnermatch.demo import load_demo
from partnermatch.extensions import db
from partnermatch.matching import asks, fusion, ranking, roles, strength
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.extension import get_engine
from partnermatch.matching.ranking import Fusion, ProfileHit
from partnermatch.matching.recommend import recommend
from partnermatch.matching.search import (
    assign_roles,
    competitor_signals,
    search,
    strength_score,
)
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters

JUDGED = Path(__file__).with_name("relevance")
CUTOFF = 5
TOP = 3
RELEVANT = 2  # grades 2 and 3 count as relevant for P@3, MRR and the bands
SHIPPED, DENSE, LEXICAL = "shipped", "dense only", "lexical only (BM25)"


@dataclass(frozen=True)
class Need:
    id: str
    query: str
    asker: str | None
    grades: dict[str, int]
    peers: frozenset[str]
    competitors: frozenset[str]

    @property
    def half(self) -> str:
        return "A" if int(self.id[1:]) % 2 else "B"


@dataclass
class Run:
    """One ranker's ranking of one need: external ids best first, with strength scores."""

    order: list[str]
    scores: list[float] = field(default_factory=list)
    bands: list[str] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_needs(name: str) -> list[Need]:
    return [
        Need(
            row["id"],
            row.get("query", ""),
            row.get("asker"),
            dict(row.get("grades", {})),
            frozenset(row.get("peers", ())),
            frozenset(row.get("competitors", ())),
        )
        for row in read_jsonl(JUDGED / name)
    ]


# --- metrics -----------------------------------------------------------------------------


def ndcg(order: Sequence[str], grades: dict[str, int], cutoff: int = CUTOFF) -> float:
    gains = [2 ** grades.get(pid, 0) - 1 for pid in order[:cutoff]]
    ideal = sorted((2**g - 1 for g in grades.values()), reverse=True)[:cutoff]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    best = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def precision(order: Sequence[str], grades: dict[str, int], cutoff: int = TOP) -> float:
    return sum(grades.get(pid, 0) >= RELEVANT for pid in order[:cutoff]) / cutoff


def reciprocal_rank(order: Sequence[str], grades: dict[str, int]) -> float:
    for rank, pid in enumerate(order, start=1):
        if grades.get(pid, 0) >= RELEVANT:
            return 1.0 / rank
    return 0.0


def peer_in_top(order: Sequence[str], need: Need, cutoff: int = TOP) -> bool:
    return bool((need.peers | need.competitors) & set(order[:cutoff]))


@dataclass(frozen=True)
class Figures:
    ndcg: float
    p3: float
    mrr: float
    peers: float  # share of needs with a peer or competitor in the top 3
    needs: int

    def line(self, name: str) -> str:
        return (
            f"  {name:<28} nDCG@5 {self.ndcg:.3f}  P@3 {self.p3:.3f}  MRR {self.mrr:.3f}  "
            f"peer/competitor in top 3: {self.peers:.3f} ({round(self.peers * self.needs)} of "
            f"{self.needs})"
        )


def figures(needs: Sequence[Need], runs: dict[str, Run]) -> Figures:
    judged = [need for need in needs if need.grades]
    if not judged:
        return Figures(0.0, 0.0, 0.0, 0.0, 0)
    return Figures(
        float(np.mean([ndcg(runs[n.id].order, n.grades) for n in judged])),
        float(np.mean([precision(runs[n.id].order, n.grades) for n in judged])),
        float(np.mean([reciprocal_rank(runs[n.id].order, n.grades) for n in judged])),
        sum(peer_in_top(runs[n.id].order, n) for n in needs) / len(needs),
        len(needs),
    )


# --- the programme -----------------------------------------------------------------------


@contextmanager
def demo_programme(
    embedding_cache: Path | None, encoder_backend: str = "torch"
) -> Iterator[MatchingEngine]:
    """A throwaway app with the demo programme loaded and indexed (MiniLM run by the
    PARTNERMATCH_ENCODER_BACKEND given: bench/bench_index.py compares them)."""
    with tempfile.TemporaryDirectory(prefix="bench-relevance-") as tmp:
        workdir = Path(tmp)
        settings = {
            "SECRET_KEY": "bench-relevance",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
            "DATA_DIR": str(workdir / "data"),
            "EMBEDDING_THREADS": 2,
            "LOG_REQUESTS": False,
            "ENCODER_BACKEND": encoder_backend,
        }
        if embedding_cache is not None:
            settings["EMBEDDING_CACHE"] = str(embedding_cache)
        app = create_app(settings, instance_path=workdir / "instance")
        with app.app_context():
            db.create_all()
            load_demo("bench-relevance")
            db.session.commit()
            engine = get_engine()
            engine.rebuild()
            engine.set_threads(1)  # as a web worker answers
            try:
                yield engine
            finally:
                db.session.remove()
                db.engine.dispose()


def external_ids() -> dict[int, str]:
    return dict(db.session.execute(select(Profile.id, Profile.external_id)).all())


def profile_by_external(external: str) -> Profile:
    return db.session.scalars(select(Profile).where(Profile.external_id == external)).one()


# --- rankers -----------------------------------------------------------------------------


ROLE_SETTINGS = (
    "DEMOTION",
    "PEER_MARGIN",
    "PEER_LEXICAL",
    "COMPETITOR_SIMILARITY",
)


@dataclass(frozen=True)
class Setting:
    lexical_weight: float = ranking.LEXICAL_WEIGHT
    demotion: float = roles.DEMOTION
    peer_margin: float = roles.PEER_MARGIN
    peer_lexical: float = roles.PEER_LEXICAL
    competitor: float = roles.COMPETITOR_SIMILARITY
    side_ask: float = asks.SIDE_ASK_WEIGHT
    method: str = "weighted"

    def label(self) -> str:
        return (
            f"lexical {self.lexical_weight:.2f} demotion {self.demotion:.2f} "
            f"peer margin {self.peer_margin:+.2f} x{self.peer_lexical:.1f} "
            f"competitor {self.competitor:.2f} side ask {self.side_ask:.2f} {self.method}"
        )


@contextmanager
def role_constants(setting: Setting) -> Iterator[None]:
    """Run with a setting's role constants in place of the shipped ones."""
    saved = {name: getattr(roles, name) for name in ROLE_SETTINGS}
    saved_side = asks.SIDE_ASK_WEIGHT
    values = (setting.demotion, setting.peer_margin, setting.peer_lexical, setting.competitor)
    for name, value in zip(ROLE_SETTINGS, values, strict=True):
        setattr(roles, name, value)
    asks.SIDE_ASK_WEIGHT = setting.side_ask
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(roles, name, value)
        asks.SIDE_ASK_WEIGHT = saved_side


@contextmanager
def applied(engine: MatchingEngine, setting: Setting) -> Iterator[None]:
    """Run with a setting in place of the shipped one (the engine's and modules' constants)."""
    saved_fusion = engine.fusion
    engine.fusion = Fusion(setting.method, setting.lexical_weight)
    engine.kept.clear()
    try:
        with role_constants(setting):
            yield
    finally:
        engine.fusion = saved_fusion
        engine.kept.clear()


def search_runs(
    engine: MatchingEngine, needs: Sequence[Need], names: dict[int, str], setting: Setting
) -> dict[str, dict[str, Run]]:
    """Each ranker's run of each search need."""
    runs: dict[str, dict[str, Run]] = {SHIPPED: {}, DENSE: {}, LEXICAL: {}}
    with applied(engine, setting):
        for need in needs:
            asker = profile_by_external(need.asker) if need.asker else None
            filters = ProfileFilters(exclude_profiles=(asker.id,)) if asker else None
            found = search(engine, need.query, filters, limit=50, searcher=asker)
            runs[SHIPPED][need.id] = Run(
                [names[r.profile.id] for r in found.results],
                [strength_score(r.hit, engine.fusion) for r in found.results],
                [r.strength for r in found.results],
            )
            page = engine.search(need.query, filters, limit=50)
            by_dense = sorted(page.ranked, key=lambda hit: (-hit.dense, hit.profile_id))
            runs[DENSE][need.id] = Run([names[h.profile_id] for h in by_dense])
            by_lexical = sorted(page.ranked, key=lambda hit: (-hit.lexical, hit.profile_id))
            runs[LEXICAL][need.id] = Run([names[h.profile_id] for h in by_lexical if h.lexical > 0])
    return runs


def recommend_runs(
    engine: MatchingEngine, askers: Sequence[Need], names: dict[int, str], setting: Setting
) -> dict[str, Run]:
    runs = {}
    with applied(engine, setting):
        for asker in askers:
            profile = profile_by_external(asker.asker)  # type: ignore[arg-type]
            found = recommend(engine, profile, 20, min_strength=strength.WEAK)
            runs[asker.id] = Run(
                [names[r.profile.id] for r in found],
                [r.closeness for r in found],
                [r.strength for r in found],
            )
    return runs


# --- strength bands ----------------------------------------------------------------------


def band_samples(
    needs: Sequence[Need], runs: dict[str, Run], depth: int = 10
) -> tuple[list[float], list[bool]]:
    scores, relevant = [], []
    for need in needs:
        run = runs[need.id]
        for pid, score in list(zip(run.order, run.scores, strict=True))[:depth]:
            scores.append(score)
            relevant.append(need.grades.get(pid, 0) >= RELEVANT)
    return scores, relevant


def offtopic_best(offtopic: Sequence[Need], runs: dict[str, Run]) -> list[float]:
    return [runs[n.id].scores[0] for n in offtopic if runs[n.id].scores]


def band_report(
    thresholds: strength.Thresholds,
    needs: Sequence[Need],
    offtopic: Sequence[Need],
    runs: dict[str, Run],
) -> str:
    """How bands fitted elsewhere hold on these needs."""
    scores, relevant = band_samples(needs, runs)
    scores_a, relevant_a = np.asarray(scores), np.asarray(relevant)
    good = scores_a >= thresholds.good
    strong = scores_a >= thresholds.strong
    providers = [(need, pid) for need in needs for pid, grade in need.grades.items() if grade == 3]
    found_good = 0
    for need, pid in providers:
        run = runs[need.id]
        if pid in run.order[:10]:
            found_good += run.scores[run.order.index(pid)] >= thresholds.good
    off = sum(score >= thresholds.good for score in offtopic_best(offtopic, runs))
    good_precision = relevant_a[good].mean() if good.any() else 0.0
    return (
        f"good >= {thresholds.good:.3f}: precision {good_precision:.3f} "
        f"({good.sum()} results); strong >= {thresholds.strong:.3f}: precision "
        f"{relevant_a[strong].mean() if strong.any() else 0:.3f} ({strong.sum()}); "
        f"grade-3 providers shown as good or strong: {found_good} of {len(providers)}; "
        f"off-topic needs with a good match: {off} of {len(offtopic)}"
    )


# --- report ------------------------------------------------------------------------------


def print_search(
    needs: Sequence[Need], offtopic: Sequence[Need], runs: dict[str, dict[str, Run]]
) -> None:
    print(f"\nSearch: {len(needs)} judged needs, {len(offtopic)} off-topic")
    for name, by_need in runs.items():
        print(figures(needs, by_need).line(name))
    shipped = runs[SHIPPED]
    strong_or_good = sum(
        bool(shipped[n.id].bands) and strength.at_least(shipped[n.id].bands[0], strength.GOOD)
        for n in offtopic
    )
    print(
        "  off-topic needs showing a strong or good match (shipped): "
        f"{strong_or_good} of {len(offtopic)}"
    )


@dataclass
class RawRun:
    """One need's engine output, computed once: every profile's hit with the signals roles
    are read from, so that settings can be replayed without searching again."""

    need: Need
    hits: list[ProfileHit]
    searcher: Profile | None
    profiles: dict[int, Profile]


def raw_runs(engine: MatchingEngine, needs: Sequence[Need]) -> list[RawRun]:
    runs = []
    for need in needs:
        asker = profile_by_external(need.asker) if need.asker else None
        filters = ProfileFilters(exclude_profiles=(asker.id,)) if asker else None
        page = engine.search(need.query, filters, limit=1000, needs_window=1000)
        hits = competitor_signals(engine, page.ranked, asker)
        runs.append(RawRun(need, hits, asker, engine.source.profiles([h.profile_id for h in hits])))
    return runs


def replay(raw: RawRun, setting: Setting, names: dict[int, str]) -> Run:
    """Rank a need's hits as the engine would with this setting (fusion, then roles)."""
    dense = {hit.profile_id: hit.dense for hit in raw.hits}
    lexical = {hit.profile_id: hit.lexical for hit in raw.hits}
    if setting.method == "rrf":
        fused = fusion.reciprocal_rank(dense, lexical)
    else:
        fused = fusion.weighted_sum(dense, lexical, setting.lexical_weight)
    how = Fusion(setting.method, setting.lexical_weight)
    with role_constants(setting):
        hits = sorted(
            (
                replace(
                    hit,
                    score=ranking.combine_asks(fused[hit.profile_id], hit.ask_scores, how)[0],
                )
                for hit in raw.hits
            ),
            key=lambda hit: (-hit.score, hit.profile_id),
        )
        hits = assign_roles(hits, raw.need.query, raw.searcher, raw.profiles)
    return Run(
        [names[hit.profile_id] for hit in hits],
        [strength_score(hit, how) for hit in hits],
    )


def choose(
    engine: MatchingEngine,
    needs: Sequence[Need],
    offtopic: Sequence[Need],
    names: dict[int, str],
) -> None:
    """Choose the settings on each half and report them on the other."""
    grid = [
        Setting(lexical, demotion, margin, weight, competitor)
        for lexical, demotion, margin, weight, competitor in itertools.product(
            (0.15, 0.3, 0.5, 0.75, 1.0),
            (0.0, 0.1, 0.2, 0.35, 0.5, 1.0),
            (-0.3, -0.2, -0.1, 0.0, 0.1),
            (0.0, 0.5, 1.0),
            (0.45, 0.5, 9.0),
        )
    ] + [Setting(method="rrf"), Setting(lexical_weight=0.0, demotion=0.0)]
    raw = raw_runs(engine, needs)
    raw_offtopic = raw_runs(engine, offtopic)
    shipped = {run.need.id: replay(run, Setting(), names) for run in raw}
    live = search_runs(engine, needs, names, Setting())[SHIPPED]
    agree = sum(shipped[n.id].order[:CUTOFF] == live[n.id].order[:CUTOFF] for n in needs)
    print(
        f"\nChoosing settings on one half of the judged needs, reported on the other "
        f"({len(grid)} settings replayed from one search per need; the replay of the shipped "
        f"setting gives the live top {CUTOFF} for {agree} of {len(needs)} needs):"
    )
    results = {
        setting: {run.need.id: replay(run, setting, names) for run in raw} for setting in grid
    }
    for chosen_on, reported_on in (("A", "B"), ("B", "A")):
        fit = [n for n in needs if n.half == chosen_on]
        held = [n for n in needs if n.half == reported_on]

        def objective(setting: Setting, fit: list[Need] = fit) -> float:
            figs = figures(fit, results[setting])
            return figs.ndcg - figs.peers

        best = max(grid, key=objective)
        print(f"  chosen on {chosen_on}: {best.label()}")
        print(figures(fit, results[best]).line(f"on {chosen_on} (fitted)"))
        print(figures(held, results[best]).line(f"on {reported_on} (held out)"))
        print(figures(held, shipped).line(f"shipped, on {reported_on}"))
        scores, relevant = band_samples(fit, results[best])
        off = {run.need.id: replay(run, best, names) for run in raw_offtopic}
        thresholds = strength.fit_thresholds(scores, relevant, offtopic_best(offtopic, off))
        report = band_report(thresholds, held, offtopic, {**results[best], **off})
        print(f"  bands fitted on {chosen_on}, on {reported_on}: {report}")
    print("\n  settings on all needs (nDCG@5 / share of needs with a peer in the top 3), best 25:")
    ranked = sorted(
        grid, key=lambda s: -(figures(needs, results[s]).ndcg - figures(needs, results[s]).peers)
    )
    for setting in ranked[:25]:
        figs = figures(needs, results[setting])
        print(f"    {setting.label():<88} {figs.ndcg:.3f} / {figs.peers:.3f}")
    for setting in (Setting(method="rrf"), Setting(lexical_weight=0.0, demotion=0.0)):
        figs = figures(needs, results[setting])
        print(f"    {setting.label():<88} {figs.ndcg:.3f} / {figs.peers:.3f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--embedding-cache", type=Path, help="reuse an embedding cache file")
    parser.add_argument("--choose", action="store_true", help="choose settings split-half")
    parser.add_argument(
        "--write-strength", action="store_true", help="fit and write the shipped bands"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    needs = read_needs("search.jsonl")
    offtopic = read_needs("offtopic.jsonl")
    askers = read_needs("recommend.jsonl")
    started = time.perf_counter()
    with demo_programme(args.embedding_cache) as engine:
        names = external_ids()
        print(f"Demo programme indexed in {time.perf_counter() - started:.1f} s")
        runs = search_runs(engine, [*needs, *offtopic], names, Setting())
        print_search(needs, offtopic, runs)
        recs = recommend_runs(engine, askers, names, Setting())
        print(f"\nRecommendations: {len(askers)} asking profiles")
        print(figures(askers, recs).line(SHIPPED))
        print(f"  fusion as shipped: {engine.fusion}")
        bands = strength.get_bands()
        print(f"\nBands shipped ({bands.fitted_on}):")
        print(f"  search: {band_report(bands.search, needs, offtopic, runs[SHIPPED])}")
        rec_bands = band_report(bands.recommend, askers, [], recs)
        print(f"  recommendations: {rec_bands}")
        if args.choose:
            choose(engine, needs, offtopic, names)
        if args.write_strength:
            search_scores, search_relevant = band_samples(needs, runs[SHIPPED])
            # A recommendation's need factor is read on the search's scale (its best ask's
            # similarity plus the lexical weight x its coverage): one set of bands, fitted on
            # the 122 needs, and measured on the 15 askers above.
            bands = strength.fit_thresholds(
                search_scores, search_relevant, offtopic_best(offtopic, runs[SHIPPED])
            )
            fitted = strength.StrengthBands(
                bands,
                bands,
                fitted_on=(
                    f"bench/bench_relevance.py: {len(needs)} judged search needs and "
                    f"{len(offtopic)} off-topic ones"
                ),
            )
            fitted.write()
            print(f"\nWrote {strength.STRENGTH_FILE}: {fitted}")
    print(f"\nTotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
