"""Research helper for bench_quality.py: which general signal lifts consortium completion?

Runs the held-out tasks through the real engine once (as bench_quality.py does, with the same
leakage check), keeps each task's text scores and the candidates' evidence titles, and then
ranks the candidates with every signal tried, on the same runs:

- collaboration (pseudo-relevance feedback): text score + weight x the share of the best k
  text matches (weighted by their scores) the candidate has worked with, read from evidence
  items that name the same project (partnermatch.matching.collaboration); also variants that
  count shared projects, or discount a shared project by its size (Adamic-Adar);
- collaboration as a random walk: personalised PageRank over the candidate-project graph,
  restarting at the best k text matches;
- track record fused differently: reciprocal-rank fusion of the text rank and the rank by
  number of evidence items, the prior w * log1p(evidence) only among the top N, and
  popularity with the text score breaking its ties;
- recency: the prior counts each evidence item by exp(-(latest year - its year) / tau);
- query side: the query cut into the product's ~200-word chunks, each passage scored by its
  best (or mean) query chunk; approximated from the project passages (the profile passage,
  which holds no project text, is left out), next to the same approximation with the whole
  query;
- popularity and the engine as they are, for reference.

Last, a learned check: gradient-boosted trees on (text score, log evidence count, log number
of distinct collaborators), trained leave-one-task-out, with and without a constraint that
the score only rises with each feature. The unconstrained model can learn particular
collaborator counts, which name particular organisations and projects of this data set (the
same hubs are candidates in every task); the monotone one cannot, so it is the fair ceiling
of these features.

Weights are chosen on one half of the tasks (odd positions) and reported on the other half
(even positions), then on all tasks; each chosen signal is paired with popularity task by
task. Uses only what the product has: the candidates' profiles and evidence items, never the
held-out project's participants (they are read only to score the rankings).

    .venv/bin/python bench/quality_signals.py [--embedding-cache FILE] [--runs FILE]
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_quality as bq
from quality_collaboration import (
    CollaborationGraph,
    build_graph,
    rerank_by_collaboration,
)

from partnermatch.matching.embedder import Embedder, resolve_model
from partnermatch.matching.engine import SUPPORT_THRESHOLD, SUPPORT_WEIGHT
from partnermatch.matching.passages import chunk_words


@dataclass
class TaskRun:
    task: bq.Task
    candidates: list[str]
    scores: dict[str, float]  # the engine's text score per org id
    titles: dict[str, list[str]]  # org id -> titles of its evidence items (other projects)


def collect_runs(dataset: bq.Dataset, tasks: Sequence[bq.Task], cache: Path) -> list[TaskRun]:
    """Run every task through the real engine; keep what the signals need."""
    stats = bq.ProfileStats()
    runs = []
    for task in tasks:
        candidates = bq.candidates_for(dataset, task)
        run = bq.rank_with_engine(dataset, task, candidates, cache, stats)
        titles = {
            org_id: [
                dataset.projects[pid].title
                for pid in bq.other_projects(dataset.organisations[org_id], task.project_id)
            ]
            for org_id in candidates
        }
        runs.append(TaskRun(task, candidates, run.scores, titles))
        print(f"  ran {task.acronym}", flush=True)
    return runs


# --- signals: each maps one task's run to a score per candidate ------------------------------

Signal = Callable[[TaskRun], Mapping[str, float]]


def graph_of(run: TaskRun) -> CollaborationGraph:
    """The collaboration graph of a task's candidates, from their evidence titles."""
    return build_graph(
        (org_id, title, "") for org_id, titles in run.titles.items() for title in titles
    )


_GRAPHS: dict[int, CollaborationGraph] = {}


def cached_graph(run: TaskRun) -> CollaborationGraph:
    key = id(run)
    if key not in _GRAPHS:
        _GRAPHS[key] = graph_of(run)
    return _GRAPHS[key]


def text_only(run: TaskRun) -> Mapping[str, float]:
    return run.scores


def collaboration(weight: float, top_k: int) -> Signal:
    """The product's reranking (partnermatch.matching.collaboration)."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        ranked = rerank_by_collaboration(run.scores, cached_graph(run), weight=weight, top_k=top_k)
        return dict(ranked)

    return signal


def collaboration_variant(weight: float, top_k: int, link: str) -> Signal:
    """Variants of the link strength: shared-project count, or Adamic-Adar (1/log size)."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        graph = cached_graph(run)
        scores = run.scores
        best = sorted(scores, key=lambda o: (-scores[o], o))[:top_k]
        total = sum(max(scores[o], 0.0) for o in best) or 1.0
        boosted = dict(scores)
        for match in best:
            for key in graph.work_of.get(match, ()):
                size = len(graph.holders[key])
                strength = 1.0 if link == "count" else 1.0 / math.log(1 + size)
                for partner in graph.holders[key]:
                    if partner != match:
                        boosted[partner] += weight * max(scores[match], 0.0) * strength / total
        return boosted

    return signal


def evidence_count(run: TaskRun) -> dict[str, int]:
    return {org_id: len(titles) for org_id, titles in run.titles.items()}


def rank_fusion(k: int, share: float) -> Signal:
    """Reciprocal-rank fusion: (1-share)/(k + text rank) + share/(k + track-record rank)."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        counts = evidence_count(run)
        text = sorted(run.scores, key=lambda o: (-run.scores[o], o))
        track = sorted(run.scores, key=lambda o: (-counts[o], -run.scores[o], o))
        fused = {o: (1 - share) / (k + rank) for rank, o in enumerate(text, start=1)}
        for rank, o in enumerate(track, start=1):
            fused[o] += share / (k + rank)
        return fused

    return signal


def prior_among_top(top_n: int, weight: float) -> Signal:
    """The track-record prior, added only to the best top_n text matches (kept above the rest)."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        counts = evidence_count(run)
        text = sorted(run.scores, key=lambda o: (-run.scores[o], o))
        top = set(text[:top_n])
        return {
            o: run.scores[o] + (10.0 + weight * math.log1p(counts[o]) if o in top else 0.0)
            for o in run.scores
        }

    return signal


def popularity(run: TaskRun) -> Mapping[str, float]:
    return {o: float(n) for o, n in evidence_count(run).items()}


def collaboration_plus_prior(weight: float, top_k: int, prior: float) -> Signal:
    base = collaboration(weight, top_k)

    def signal(run: TaskRun) -> Mapping[str, float]:
        counts = evidence_count(run)
        return {o: s + prior * math.log1p(counts[o]) for o, s in base(run).items()}

    return signal


def lexicographic(run: TaskRun) -> Mapping[str, float]:
    """Popularity (evidence items), its ties broken by the text score."""
    return {o: 1000.0 * len(run.titles[o]) + s for o, s in run.scores.items()}


def recency_prior(weight: float, tau: float, years: Mapping[str, int]) -> Signal:
    """text + weight * log1p(sum over evidence of exp(-(latest year - year) / tau))."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        latest = max(years[t] for titles in run.titles.values() for t in titles)
        return {
            o: s
            + weight * math.log1p(sum(math.exp(-(latest - years[t]) / tau) for t in run.titles[o]))
            for o, s in run.scores.items()
        }

    return signal


def personalised_pagerank(top_k: int, restart: float) -> Signal:
    """Random walk candidate -> shared project -> candidate, restarting at the best top_k
    text matches (in proportion to their scores); the score is the walk's visit rate."""

    def signal(run: TaskRun) -> Mapping[str, float]:
        graph = cached_graph(run)
        orgs = sorted(run.scores)
        index = {o: i for i, o in enumerate(orgs)}
        works = {key: i for i, key in enumerate(sorted(graph.holders))}
        pairs = [(index[o], works[key]) for o in orgs for key in graph.work_of.get(o, ())]
        links = sparse.csr_matrix(
            (np.ones(len(pairs)), ([p[0] for p in pairs], [p[1] for p in pairs])),
            shape=(len(orgs), len(works)),
        )
        to_work = sparse.diags(1 / np.maximum(np.asarray(links.sum(1)).ravel(), 1)) @ links
        to_org = sparse.diags(1 / np.maximum(np.asarray(links.sum(0)).ravel(), 1)) @ links.T
        seed = np.zeros(len(orgs))
        for o in sorted(orgs, key=lambda o: (-run.scores[o], o))[:top_k]:
            seed[index[o]] = max(run.scores[o], 0.0)
        seed /= seed.sum()
        visits = seed.copy()
        for _ in range(30):
            visits = restart * seed + (1 - restart) * (to_org.T @ (to_work.T @ visits))
        return {o: float(visits[index[o]]) for o in orgs}

    return signal


class QueryChunks:
    """Scores every candidate's project passages against the query, whole or in chunks."""

    def __init__(self, dataset: bq.Dataset, cache: Path) -> None:
        embedder = Embedder(resolve_model(None), cache, threads=bq.TORCH_THREADS)
        self.project_of = {p.title: pid for pid, p in dataset.projects.items()}
        self.passages = {
            pid: embedder.encode_passages(
                [f"{p.title.rstrip('.')}. {chunk}" for chunk in chunk_words(p.objective)]
            )
            for pid, p in dataset.projects.items()
        }
        self.whole = {
            pid: embedder.encode_query(p.query)[None, :] for pid, p in dataset.projects.items()
        }
        self.chunks = {
            pid: np.stack([embedder.encode_query(chunk) for chunk in chunk_words(p.query)])
            for pid, p in dataset.projects.items()
        }

    def signal(self, mode: str) -> Signal:
        """mode: "whole" query, or its chunks combined by "max" or "mean"."""

        def score(run: TaskRun) -> Mapping[str, float]:
            held_out = run.task.project_id
            queries = self.whole[held_out] if mode == "whole" else self.chunks[held_out]
            scores = {}
            for o, titles in run.titles.items():
                vectors = np.vstack([self.passages[self.project_of[t]] for t in titles])
                pairs = queries @ vectors.T
                sims = np.sort(pairs.mean(0) if mode == "mean" else pairs.max(0))[::-1]
                support = np.clip(sims[1:] - SUPPORT_THRESHOLD, 0.0, None).sum()
                scores[o] = float(sims[0] + SUPPORT_WEIGHT * support)
            return scores

        return score


def learned_check(dataset: bq.Dataset, runs: Sequence[TaskRun]) -> None:
    """Leave-one-task-out gradient-boosted trees, free and monotone (see the docstring)."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:  # research only: scikit-learn comes with sentence-transformers
        print("  (scikit-learn is not installed: no learned check)")
        return
    tables = []
    for run in runs:
        graph = cached_graph(run)
        orgs = sorted(run.scores)
        features = np.array(
            [
                [
                    run.scores[o],
                    math.log1p(len(run.titles[o])),
                    math.log1p(len(graph.partners(o))),
                ]
                for o in orgs
            ]
        )
        labels = np.array([o in run.task.relevant for o in orgs])
        tables.append((orgs, features, labels))
    print(header())
    for monotone in (False, True):
        rows = []
        for held, (orgs, features, _) in enumerate(tables):
            train = [t for i, t in enumerate(tables) if i != held]
            model = HistGradientBoostingClassifier(
                max_iter=150,
                learning_rate=0.05,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                random_state=0,
                monotonic_cst=[1, 1, 1] if monotone else None,
            ).fit(np.vstack([t[1] for t in train]), np.concatenate([t[2] for t in train]))
            scores = dict(zip(orgs, model.predict_proba(features)[:, 1], strict=True))
            rows.append(
                bq.score_ranking(
                    bq.order_by_score(scores),
                    runs[held].task.relevant,
                    lambda o: dataset.organisations[o].activity_type,
                )
            )
        label = "monotone" if monotone else "free"
        print(line(f"trees, {label}: text, evidence, collaborators", rows))


# --- evaluation -------------------------------------------------------------------------------


def evaluate(dataset: bq.Dataset, runs: Sequence[TaskRun], signal: Signal) -> list[bq.TaskScores]:
    """Score a signal on each run, ties broken by org_id."""

    def activity_type(org_id: str) -> str:
        return dataset.organisations[org_id].activity_type

    return [
        bq.score_ranking(bq.order_by_score(signal(run)), run.task.relevant, activity_type)
        for run in runs
    ]


def summary(rows: Sequence[bq.TaskScores]) -> tuple[float, float, float, float]:
    n = max(len(rows), 1)
    return (
        sum(r.recall_10 for r in rows) / n,
        sum(r.recall_50 for r in rows) / n,
        sum(r.ndcg_10 for r in rows) / n,
        sum(r.average_precision for r in rows) / n,
    )


def line(name: str, rows: Sequence[bq.TaskScores]) -> str:
    r10, r50, ndcg, ap = summary(rows)
    return f"  {name:<44}{r10:>7.3f}{r50:>7.3f}{ndcg:>9.3f}{ap:>7.3f}"


def header() -> str:
    return f"  {'signal':<44}{'R@10':>7}{'R@50':>7}{'nDCG@10':>9}{'MAP':>7}"


def families(dataset: bq.Dataset, chunks: QueryChunks) -> dict[str, dict[str, Signal]]:
    """Every signal tried, grouped by family (one weight per family is chosen on half A)."""
    years = {p.title: p.start_year or 0 for p in dataset.projects.values()}
    return {
        "collaboration (product)": {
            f"collab w={w:g} k={k}": collaboration(w, k)
            for w in (0.05, 0.1, 0.2, 0.3, 0.5)
            for k in (3, 5, 10, 20, 50)
        },
        "collaboration, shared-project count": {
            f"collab-count w={w:g} k={k}": collaboration_variant(w, k, "count")
            for w in (0.05, 0.1, 0.2, 0.3)
            for k in (5, 10, 20)
        },
        "collaboration, Adamic-Adar": {
            f"collab-aa w={w:g} k={k}": collaboration_variant(w, k, "aa")
            for w in (0.1, 0.2, 0.3, 0.5)
            for k in (5, 10, 20)
        },
        "rank fusion text + track record": {
            f"rrf k={k} share={s:g}": rank_fusion(k, s) for k in (10, 60) for s in (0.2, 0.35, 0.5)
        },
        "prior among top N": {
            f"prior top{n} w={w:g}": prior_among_top(n, w)
            for n in (20, 50, 100)
            for w in (0.05, 0.1, 0.3)
        },
        "collaboration, personalised PageRank": {
            f"ppr k={k} restart={a:g}": personalised_pagerank(k, a)
            for k in (10, 50, 200, 800)
            for a in (0.15, 0.5)
        },
        "popularity, ties by text": {"popularity, ties by text": lexicographic},
        "recency prior": {
            f"recency w={w:g} tau={t:g}": recency_prior(w, t, years)
            for w in (0.1, 0.3, 1.0)
            for t in (2, 4, 8)
        },
        "query chunks (approximate engine)": {
            f"query {mode}": chunks.signal(mode) for mode in ("whole", "max", "mean")
        },
        "collaboration + prior": {
            f"collab w={w:g} k={k} + prior {p:g}": collaboration_plus_prior(w, k, p)
            for w in (0.1, 0.2, 0.3)
            for k in (5, 10)
            for p in (0.02, 0.05)
        },
    }


def paired(rows: Sequence[bq.TaskScores], base: Sequence[bq.TaskScores]) -> str:
    rng = np.random.default_rng(0)
    parts = []
    for label, metric in (
        ("R@10", lambda t: t.recall_10),
        ("nDCG@10", lambda t: t.ndcg_10),
        ("AP", lambda t: t.average_precision),
    ):
        diff = np.array([metric(a) - metric(b) for a, b in zip(rows, base, strict=True)])
        means = diff[rng.integers(0, len(diff), (2000, len(diff)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        parts.append(
            f"{label} {int((diff > 0).sum())}/{int((diff == 0).sum())}/{int((diff < 0).sum())} "
            f"{diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
        )
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bq.DEFAULT_DATA_DIR)
    parser.add_argument("--embedding-cache", type=Path, required=True, metavar="FILE")
    parser.add_argument(
        "--runs", type=Path, default=None, metavar="FILE", help="keep the engine runs here"
    )
    parser.add_argument("--all", action="store_true", help="print every signal on every half")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dataset = bq.load_dataset(args.data)
    if args.runs and args.runs.exists():
        runs = pickle.loads(args.runs.read_bytes())
    else:
        runs = collect_runs(dataset, dataset.tasks, args.embedding_cache)
        if args.runs:
            args.runs.write_bytes(pickle.dumps(runs))

    half_a = runs[1::2]  # choose on these (odd positions: 2nd, 4th, ...)
    half_b = runs[0::2]  # report on these
    print(f"{len(runs)} tasks; choose on half A ({len(half_a)}), report on half B ({len(half_b)})")
    references = {"popularity": popularity, "engine (text only)": text_only}
    for label, half in (("A", half_a), ("B", half_b), ("all", runs)):
        print(f"\nHalf {label}\n" + header())
        for name, signal in references.items():
            print(line(name, evaluate(dataset, half, signal)))

    chosen: dict[str, tuple[str, Signal]] = {}
    chunks = QueryChunks(dataset, args.embedding_cache)
    for family, signals in families(dataset, chunks).items():
        scored = {name: summary(evaluate(dataset, half_a, sig)) for name, sig in signals.items()}
        best = max(scored, key=lambda name: scored[name][3])  # MAP on half A
        chosen[family] = (best, signals[best])
        if args.all:
            print(f"\n{family}, half A\n" + header())
            for name, sig in signals.items():
                print(line(name, evaluate(dataset, half_a, sig)))

    pop = {
        label: evaluate(dataset, half, popularity) for label, half in (("B", half_b), ("all", runs))
    }
    print("\nChosen on half A by MAP, then reported on half B and on all tasks")
    for family, (name, signal) in chosen.items():
        print(f"\n{family}: {name}\n" + header())
        for label, half in (("A", half_a), ("B", half_b), ("all", runs)):
            print(line(f"half {label}", evaluate(dataset, half, signal)))
        for label, half in (("B", half_b), ("all", runs)):
            rows = evaluate(dataset, half, signal)
            print(f"    vs popularity, half {label}: {paired(rows, pop[label])}")

    print("\nLearned check, leave one task out, all tasks")
    learned_check(dataset, runs)


if __name__ == "__main__":
    main()
