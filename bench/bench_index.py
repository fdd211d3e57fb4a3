"""Indexing benchmark: throughput against raw model.encode, the cache on re-import, edit latency.

    .venv/bin/python bench/bench_index.py [--profiles 1000] [--threads 2] [--multilingual auto]

Prints, in one run:
- indexing throughput of a full rebuild (passages/s) next to the raw models on the very same
  passage texts with the same batch sizes and threads (goal: ratio >= 0.90): MiniLM's
  `model.encode` on the passages it reads and, unless PARTNERMATCH_MULTILINGUAL is off (the
  default is auto, as in the product), the multilingual model's `encode_passages` on all;
- a second rebuild of the unchanged profiles, served from the embedding cache
  (goal: >= 20 x faster than the first);
- the time from committing an edit to a search that finds it (goal: <= 1 s).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from synthetic import synthetic_records

from partnermatch import create_app
from partnermatch.extensions import db
from partnermatch.matching.embedder import PASSAGE_BATCH_SIZE, set_torch_threads
from partnermatch.matching.extension import get_engine
from partnermatch.matching.passages import profile_passages
from partnermatch.matching.search import search
from partnermatch.profiles import services, transfer
from partnermatch.profiles.models import Profile

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# Offers unlike anything in the synthetic profiles, each unlike the others.
EDIT_MARKERS = (
    "Tidal kelp harvesters for island cooperatives.",
    "Violin and guitar making from reclaimed tropical hardwoods.",
    "Beekeeping hives with honey-flow sensors for highland farms.",
    "Braille signage engraved on recycled aluminium for metro stations.",
    "Cold-water coral reef restoration using 3D-printed ceramic frames.",
    "Hand-woven bamboo bicycle frames for export markets.",
    "Volcanic-ash bricks for earthquake-resistant village schools.",
    "Mushroom-mycelium packaging to replace polystyrene foam.",
    "Solar-powered ice makers for fishing harbours without grid power.",
    "Sign-language avatars that translate railway announcements.",
)


def make_app(folder: Path, multilingual: str):
    return create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "DATA_DIR": str(folder / "data"),
            "MULTILINGUAL": multilingual,
        },
        instance_path=folder / "instance",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--edits", type=int, default=len(EDIT_MARKERS))
    parser.add_argument("--multilingual", choices=("auto", "always", "off"), default="auto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(Path(folder), args.multilingual)
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            for record in synthetic_records(args.profiles):
                transfer.create_from_record(record)
            db.session.commit()
            elapsed = time.perf_counter() - started
            print(f"Profiles created in the database: {args.profiles} in {elapsed:.1f} s")

            engine = get_engine()
            engine.set_threads(args.threads)
            passages = [
                passage
                for profile in db.session.scalars(db.select(Profile).order_by(Profile.id))
                for passage in profile_passages(profile)
            ]
            texts = [passage.text for passage in passages]
            # What the engine gives each model to read (PassageEncoder.reads_with_minilm).
            minilm_texts = [
                passage.text for passage in passages if engine.encoder.reads_with_minilm(passage)
            ]
            multilingual_texts = texts if engine.multilingual is not None else []
            model = engine.embedder.model  # load once, outside every timing
            set_torch_threads(args.threads)
            model.encode(texts[:64], batch_size=PASSAGE_BATCH_SIZE)  # warm-up
            if multilingual_texts:
                multilingual_model = engine.multilingual.model
                multilingual_model.encode_passages(texts[:64], threads=args.threads)
            print(
                f"Passages: {len(texts)} ({len(set(texts))} distinct, "
                f"{len(texts) / args.profiles:.1f} a profile), "
                f"{statistics.mean(len(t.split()) for t in texts):.0f} words on average; "
                f"MiniLM reads {len(minilm_texts)}, the multilingual model "
                f"{len(multilingual_texts)} (PARTNERMATCH_MULTILINGUAL={args.multilingual}); "
                f"threads: {args.threads}, batch size {PASSAGE_BATCH_SIZE}"
            )

            started = time.perf_counter()
            model.encode(minilm_texts, batch_size=PASSAGE_BATCH_SIZE, normalize_embeddings=True)
            minilm_seconds = time.perf_counter() - started
            started = time.perf_counter()
            if multilingual_texts:
                multilingual_model.encode_passages(multilingual_texts, threads=args.threads)
            multilingual_seconds = time.perf_counter() - started
            raw_seconds = minilm_seconds + multilingual_seconds

            started = time.perf_counter()
            engine.rebuild()
            first_seconds = time.perf_counter() - started

            started = time.perf_counter()
            engine.rebuild()
            second_seconds = time.perf_counter() - started

            raw_rate, index_rate = len(texts) / raw_seconds, len(texts) / first_seconds
            print()
            print(f"{'':38}{'seconds':>9}{'passages/s':>12}")
            print(f"{'  raw MiniLM model.encode':38}{minilm_seconds:9.2f}")
            print(f"{'  raw multilingual encode_passages':38}{multilingual_seconds:9.2f}")
            print(f"{'raw models together (baseline)':38}{raw_seconds:9.2f}{raw_rate:12.1f}")
            print(f"{'index rebuild, empty cache':38}{first_seconds:9.2f}{index_rate:12.1f}")
            warm_rate = len(texts) / second_seconds
            print(f"{'index rebuild again, warm cache':38}{second_seconds:9.2f}{warm_rate:12.1f}")
            print()
            print(f"Indexing / raw encode throughput: {index_rate / raw_rate:.2f}  (goal >= 0.90)")
            speed_up = first_seconds / second_seconds
            print(f"Re-import speed-up from the cache: {speed_up:.1f} x  (goal >= 20 x)")

            engine.set_threads(1)  # as a web worker serves
            latencies = []
            ids = list(
                db.session.scalars(db.select(Profile.id).order_by(Profile.id).limit(args.edits))
            )
            for marker, profile_id in zip(EDIT_MARKERS, ids, strict=False):
                profile = db.session.get(Profile, profile_id)
                data = services.profile_input_for(profile)
                started = time.perf_counter()
                services.update_profile(profile, dataclasses.replace(data, offers=marker))
                db.session.commit()
                found = search(engine, marker, limit=1)
                latencies.append(time.perf_counter() - started)
                assert found.results[0].profile.id == profile_id, "the edit was not found"
            print(
                f"Edit -> found by search: median {statistics.median(latencies) * 1000:.0f} ms, "
                f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} edits  (goal <= 1000 ms)"
            )
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
