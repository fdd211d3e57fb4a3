"""Compare how MiniLM encodes passages for an index rebuild: torch float32, ONNX Runtime
float32 and ONNX Runtime int8 (PARTNERMATCH_ENCODER_BACKEND), on the same passages, in one run.

The passages are the demo programme's (its profiles' texts, chunked as the engine chunks them)
plus synthetic ~200-word passages recombined from the demo's sentences (seeded). Printed for
each backend: passages a second (batch 16, 1 and 2 threads), the mean and least cosine of its
vectors to torch float32's, and nDCG@5 of bench/bench_relevance.py with that backend. A
backend that cannot run here (onnxruntime or optimum-onnx missing or not importable) is
reported as such, not measured.

Goals (issue 16): throughput >= 2.5x torch float32, mean cosine >= 0.98, nDCG@5 within 0.01.

With --workers N it measures the scale-out rebuild instead (bench/bench_scaleout.py): one
process, 1 `jobs worker` and N workers on RQ, through PostgreSQL and Redis.

Run from the repository root:

    .venv/bin/python bench/bench_index.py [--synthetic 2000] [--no-relevance]
    .venv/bin/python bench/bench_index.py --workers 2 [--profiles 200] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

import bench_scaleout
import numpy as np
from bench_relevance import SHIPPED, demo_programme, external_ids, figures, read_needs, search_runs
from bench_relevance import Setting as RelevanceSetting

from partnermatch.demo import demo_records
from partnermatch.matching import embedder as embedding
from partnermatch.matching.embedder import Embedder, resolve_model
from partnermatch.matching.passages import chunk_text

BATCH = 16
THREADS = (1, 2)
SYNTHETIC_WORDS = 200


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


def encode(backend: str, texts: list[str], threads: int, folder: Path) -> tuple[float, np.ndarray]:
    """Return passages a second and the vectors, through an empty cache."""
    spec = resolve_model(None, backend, folder)
    if spec.backend != backend:
        raise embedding.BackendUnavailable(f"{backend}: onnxruntime or optimum-onnx not importable")
    encoder = Embedder(spec, folder / f"cache-{backend}-{threads}.sqlite3", threads=threads)
    encoder.encode_queries(texts[:BATCH])  # load (and export) outside the timing
    if encoder.spec.backend != backend:
        raise embedding.BackendUnavailable(f"{backend} fell back to torch")
    started = time.perf_counter()
    vectors = encoder._encode(texts, BATCH)
    return len(texts) / (time.perf_counter() - started), vectors


def ndcg(backend: str) -> float:
    needs = read_needs("search.jsonl")
    with demo_programme(None, backend) as engine:
        runs = search_runs(engine, needs, external_ids(), RelevanceSetting())
    return figures(needs, runs[SHIPPED]).ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--synthetic", type=int, default=2000, help="synthetic passages")
    parser.add_argument("--no-relevance", action="store_true", help="skip nDCG@5")
    parser.add_argument("--workers", type=int, help="measure the scale-out rebuild on N workers")
    bench_scaleout.add_arguments(parser)
    args = parser.parse_args()
    if args.workers:
        bench_scaleout.report(args)
        return
    texts = passages(args.synthetic)
    print(
        f"{len(texts)} passages ({len(texts) - args.synthetic} demo, {args.synthetic} synthetic"
        f" of {SYNTHETIC_WORDS} words), batch {BATCH}"
    )
    baseline: dict[int, float] = {}
    reference: np.ndarray | None = None
    base_ndcg: float | None = None
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for backend in embedding.BACKENDS:
            line = [f"{backend:<10}"]
            try:
                for threads in THREADS:
                    rate, vectors = encode(backend, texts, threads, Path(tmp))
                    baseline.setdefault(threads, rate)
                    line.append(
                        f"{threads} thread(s) {rate:7.1f} passages/s "
                        f"({rate / baseline[threads]:.2f}x torch)"
                    )
            except embedding.BackendUnavailable as error:
                print(f"{backend:<10} not measured: {error}")
                continue
            if reference is None:
                reference = vectors
            cosines = np.sum(vectors * reference, axis=1)
            line.append(f"cosine to torch mean {cosines.mean():.4f} min {cosines.min():.4f}")
            if not args.no_relevance:
                value = ndcg(backend)
                base_ndcg = value if base_ndcg is None else base_ndcg
                line.append(f"nDCG@5 {value:.3f} ({value - base_ndcg:+.3f})")
            print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
