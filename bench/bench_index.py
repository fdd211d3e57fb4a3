"""Compare how MiniLM encodes passages for an index rebuild: torch float32, ONNX Runtime
float32 and ONNX Runtime int8 (PARTNERMATCH_ENCODER_BACKEND), on the same passages, in one run.

The passages are the demo programme's (its profiles' texts, chunked as the engine chunks them)
plus synthetic ~200-word passages recombined from the demo's sentences (seeded). Printed for
each backend: passages a second (in the rebuild's batches, 1 and 2 threads), the mean and
least cosine of its vectors to torch float32's, nDCG@5 of bench/bench_relevance.py with that
backend, and the time to encode one query (a short one and one of about 40 words, 1 thread,
as a web worker encodes). The backends take turns, a few batches each, so that other work on
a shared machine slows all three alike. A backend that cannot run here (onnxruntime or onnx
missing) is reported as such, not measured.

Goals (issue 16): throughput >= 2.5x torch float32, mean cosine >= 0.98, nDCG@5 within 0.01.

Run from the repository root:

    .venv/bin/python bench/bench_index.py [--synthetic 2000] [--no-relevance]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_relevance import SHIPPED, demo_programme, external_ids, figures, read_needs, search_runs
from bench_relevance import Setting as RelevanceSetting

from partnermatch.demo import demo_records
from partnermatch.matching import embedder as embedding
from partnermatch.matching.embedder import Embedder, resolve_model
from partnermatch.matching.passages import chunk_text

BATCH = embedding.PASSAGE_BATCH_SIZE  # as index rebuild encodes
THREADS = (1, 2)
SYNTHETIC_WORDS = 200
QUERIES = {
    "short": "cold-chain logistics partner",
    "40 words": (
        "We are a small mango exporter in Mindanao looking for a partner who can set up "
        "cold-chain storage and refrigerated transport to the port, help us meet Japanese "
        "food-safety rules such as HACCP, and train our packing staff before the next harvest."
    ),
}
QUERY_REPEATS = 50
SLICE = 4 * BATCH  # passages each backend encodes in its turn


def demo_texts() -> list[str]:
    """The demo profiles' free texts (every string field of eight words or more)."""
    texts = []
    for _name, _line, record in demo_records():
        for value in record.values():
            if isinstance(value, str) and len(value.split()) >= 8:
                texts.append(value)
    return texts


def passages(synthetic: int) -> list[str]:
    """The demo's passages, then `synthetic` ~200-word ones made of the demo's sentences."""
    texts = demo_texts()
    demo = [chunk for text in texts for chunk in chunk_text(text)]
    sentences = [s for text in texts for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    generator = random.Random(16)
    made = []
    for _ in range(synthetic):
        words: list[str] = []
        while len(words) < SYNTHETIC_WORDS:
            words += generator.choice(sentences).split()
        made.append(" ".join(words[:SYNTHETIC_WORDS]))
    return demo + made


def encoder(backend: str, threads: int, folder: Path) -> Embedder:
    """Return an embedder of the backend, loaded (and exported) outside any timing."""
    spec = resolve_model(None, backend, folder)
    if spec.backend != backend:
        raise embedding.BackendUnavailable(f"{backend}: onnxruntime or onnx not importable")
    made = Embedder(spec, folder / f"cache-{backend}-{threads}.sqlite3", threads=threads)
    made.encode_queries(["warm up"])
    if made.spec.backend != backend:
        raise embedding.BackendUnavailable(f"{backend} fell back to torch")
    return made


def throughput(
    encoders: dict[str, Embedder], texts: list[str]
) -> dict[str, tuple[float, np.ndarray]]:
    """Return each backend's passages a second and vectors. The backends take turns, one
    slice of the passages each, so that other work on the machine weighs on all alike."""
    seconds = dict.fromkeys(encoders, 0.0)
    parts: dict[str, list[np.ndarray]] = {backend: [] for backend in encoders}
    for start in range(0, len(texts), SLICE):
        chunk = texts[start : start + SLICE]
        for backend, made in encoders.items():
            started = time.perf_counter()
            parts[backend].append(made._encode(chunk, BATCH))
            seconds[backend] += time.perf_counter() - started
    return {
        backend: (len(texts) / seconds[backend], np.concatenate(parts[backend]))
        for backend in encoders
    }


def query_times(encoders: dict[str, Embedder]) -> dict[str, dict[str, float]]:
    """Return each backend's median milliseconds to encode each of QUERIES (taking turns)."""
    samples: dict[str, dict[str, list[float]]] = {
        backend: {name: [] for name in QUERIES} for backend in encoders
    }
    for _ in range(QUERY_REPEATS):
        for name, query in QUERIES.items():
            for backend, made in encoders.items():
                started = time.perf_counter()
                made.encode_query(query)
                samples[backend][name].append(time.perf_counter() - started)
    return {
        backend: {name: 1000 * float(np.median(times)) for name, times in by_query.items()}
        for backend, by_query in samples.items()
    }


def ndcg(backend: str) -> float:
    needs = read_needs("search.jsonl")
    with demo_programme(None, backend) as engine:
        runs = search_runs(engine, needs, external_ids(), RelevanceSetting())
    return figures(needs, runs[SHIPPED]).ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--synthetic", type=int, default=2000, help="synthetic passages")
    parser.add_argument("--no-relevance", action="store_true", help="skip nDCG@5")
    args = parser.parse_args()
    texts = passages(args.synthetic)
    print(
        f"{len(texts)} passages ({len(texts) - args.synthetic} demo, {args.synthetic} synthetic"
        f" of {SYNTHETIC_WORDS} words), batch {BATCH}; load average {os.getloadavg()[0]:.1f}"
        f" on {os.cpu_count()} cores (others' work shares them)"
    )
    lines: dict[str, list[str]] = {backend: [f"{backend:<10}"] for backend in embedding.BACKENDS}
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        backends = []
        for backend in embedding.BACKENDS:
            try:
                encoder(backend, 1, Path(tmp))
            except embedding.BackendUnavailable as error:
                print(f"{backend:<10} not measured: {error}")
                continue
            backends.append(backend)
        vectors: dict[str, np.ndarray] = {}
        for threads in THREADS:
            encoders = {backend: encoder(backend, threads, Path(tmp)) for backend in backends}
            measured = throughput(encoders, texts)
            for backend, (rate, vectors[backend]) in measured.items():
                lines[backend].append(
                    f"{threads} thread(s) {rate:7.1f} passages/s "
                    f"({rate / measured[embedding.TORCH][0]:.2f}x torch)"
                )
        queries = query_times({backend: encoder(backend, 1, Path(tmp)) for backend in backends})
        base_ndcg = None
        for backend in backends:
            cosines = np.sum(vectors[backend] * vectors[embedding.TORCH], axis=1)
            line = lines[backend]
            line.append(f"cosine to torch mean {cosines.mean():.4f} min {cosines.min():.4f}")
            line.append(
                "query p50 (1 thread) "
                + ", ".join(f"{name} {ms:.1f} ms" for name, ms in queries[backend].items())
            )
            if not args.no_relevance:
                value = ndcg(backend)
                base_ndcg = value if base_ndcg is None else base_ndcg
                line.append(f"nDCG@5 {value:.3f} ({value - base_ndcg:+.3f})")
            print("  ".join(line), flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
