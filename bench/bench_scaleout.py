"""Throughput of the scale-out rebuild (partnermatch/jobs/scaleout.py), in one run: the same
programme of synthetic profiles (bench/synthetic.py) indexed
(a) by one process, as `index rebuild` does without Redis (its own SQLite embedding cache),
(b) through RQ by 1 `jobs worker`, and (c) by N workers, each with a DATA_DIR of its own and
one PostgreSQL embedding cache shared by all, emptied before each run.

Every process encodes with one torch thread (the workers' default, EMBEDDING_THREADS). Each
model is loaded before the timing starts: the rebuilding process's by a query, the workers'
by warm-up chunks (whose texts are then deleted from the cache). A timing is the whole
rebuild: the workers' encoding and the assembly of the snapshot from the cache. Each index
built through the workers is compared with the single process's: the same passage ids, and
the largest difference of a vector component.

Needs a PostgreSQL server (an admin URL, as PARTNERMATCH_TEST_POSTGRES_URL gives the tests:
the programme gets a database of its own, dropped at the end) and redis-server (started on a
free port). Run from the repository root, directly or through bench/bench_index.py:

    .venv/bin/python bench/bench_index.py --workers 2 [--profiles 200] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import Flask
from synthetic import synthetic_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.servers, shared with the tests' fixtures

from partnermatch import create_app  # noqa: E402
from partnermatch.extensions import db  # noqa: E402
from partnermatch.jobs import scaleout  # noqa: E402
from partnermatch.jobs.runner import job_queue  # noqa: E402
from partnermatch.matching.extension import get_engine  # noqa: E402
from partnermatch.matching.shared_cache import EMBEDDING_CACHE_TABLE  # noqa: E402
from partnermatch.profiles.transfer import create_from_record  # noqa: E402
from tests.servers import postgres_database, redis_server, snapshot_vectors, stop_processes  # noqa: E402

CHUNK = 64
TIMEOUT = 600
SECRET = "bench-scaleout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", type=int, default=200, help="synthetic profiles")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PARTNERMATCH_TEST_POSTGRES_URL"),
        help="PostgreSQL admin URL (default: PARTNERMATCH_TEST_POSTGRES_URL)",
    )


def machine(url: str, folder: Path, **settings: object) -> Flask:
    """An app on the programme's database with a DATA_DIR of its own."""
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": SECRET,
            "DATA_DIR": str(folder / "data"),
            "MULTILINGUAL": "off",
            "EMBEDDING_THREADS": 1,
            "ENCODE_CHUNK": CHUNK,
            "ENCODE_CHUNK_TIMEOUT": TIMEOUT,
            "LOG_REQUESTS": False,
            **settings,
        },
        instance_path=folder / "instance",
    )


def fill(app: Flask, profiles: int) -> None:
    with app.app_context():
        db.create_all()
        for record in synthetic_records(profiles, seed=profiles):
            create_from_record(record)
        db.session.commit()
        db.engine.dispose()


def start_worker(url: str, redis_url: str, folder: Path) -> subprocess.Popen:
    """`flask --app wsgi jobs worker` in a process of its own, with its own DATA_DIR."""
    folder.mkdir(parents=True)
    environment = {
        **os.environ,
        "PARTNERMATCH_DATABASE_URL": url,
        "PARTNERMATCH_REDIS_URL": redis_url,
        "PARTNERMATCH_DATA_DIR": str(folder / "data"),
        "PARTNERMATCH_INSTANCE_PATH": str(folder / "instance"),
        "PARTNERMATCH_MULTILINGUAL": "off",
        "PARTNERMATCH_SECRET_KEY": SECRET,
        "PYTHONPATH": str(ROOT),
    }
    with open(folder / "worker.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "worker"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def warm_up(app: Flask, workers: int) -> None:
    """Have every worker load its model, then empty the cache of the warm-up texts."""
    engine = get_engine()
    chunks = [
        scaleout.Chunk("minilm", [f"warm-up text {n}.{m}" for m in range(2)])
        for n in range(3 * workers)
    ]
    scaleout.run_chunks(engine, chunks, job_queue(app), TIMEOUT)
    time.sleep(1)  # the last workers to start may still be loading
    db.session.execute(EMBEDDING_CACHE_TABLE.delete())
    db.session.commit()


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    seconds: float
    passages: int
    texts: int
    # CPU seconds during the rebuild: the rebuilding process's, then each worker's.
    cpu: list[float]

    def cpu_text(self) -> str:
        workers = " + ".join(f"{value:.1f}" for value in self.cpu[1:])
        return f"CPU {self.cpu[0]:.1f} s here" + (f", workers {workers} s" if workers else "")


def timed_rebuild(app: Flask, workers: list[subprocess.Popen] = ()) -> Timing:
    """Rebuild (on the workers when the app scales out); time it, and count the CPU time
    of this process and of the workers meanwhile."""
    engine = get_engine()
    engine.set_threads(1)
    engine.embedder.encode_queries(["load the model before the timing"])
    texts = sum(len(group) for group in engine.uncached_texts().values())
    pids = [os.getpid()] + [worker.pid for worker in workers]
    cpu = [cpu_seconds(pid) for pid in pids]
    started = time.perf_counter()
    manifest = scaleout.rebuild(engine)
    seconds = time.perf_counter() - started
    cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
    return Timing(seconds, manifest.capability_passages + manifest.needs_passages, texts, cpu)


def difference(expected: dict, built: dict) -> str:
    """Compare two machines' snapshots: same ids, and the largest component difference."""
    if {name: sorted(v) for name, v in built.items()} != {
        name: sorted(v) for name, v in expected.items()
    }:
        return "DIFFERENT passage ids from the single process"
    largest = max(
        float(np.max(np.abs(built[name][passage] - vector)))
        for name, vectors in expected.items()
        for passage, vector in vectors.items()
    )
    verdict = "equal" if largest <= 1e-6 else "NOT equal"
    return f"same ids, vectors {verdict} within 1e-6 (largest difference {largest:.1e})"


def on_workers(url: str, redis_url: str, count: int, folder: Path) -> tuple[Timing, dict]:
    """Rebuild through `count` workers; return its timing and the snapshot's vectors."""
    app = machine(url, folder / "rebuilder", REDIS_URL=redis_url, EMBEDDING_CACHE="database")
    processes = [start_worker(url, redis_url, folder / f"worker-{n}") for n in range(count)]
    try:
        with app.app_context():
            warm_up(app, count)
            timing = timed_rebuild(app, processes)
            db.engine.dispose()
    finally:
        stop_processes(processes)
    return timing, snapshot_vectors(app)


def report(args: argparse.Namespace) -> None:
    """Print passages a second: one process, 1 worker and args.workers workers."""
    if not args.postgres_url:
        raise SystemExit(
            "--workers needs a PostgreSQL server: set PARTNERMATCH_TEST_POSTGRES_URL or give "
            "--postgres-url (an admin URL; a database is created and dropped)."
        )
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    print(f"load average before: {' '.join(f'{n:.1f}' for n in os.getloadavg())}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp,
        postgres_database(args.postgres_url, "partnermatch_bench") as url,
        redis_server(server) as redis_url,
    ):
        folder = Path(tmp)
        fill(machine(url, folder / "setup"), args.profiles)
        single = machine(url, folder / "single", EMBEDDING_CACHE=str(folder / "single.sqlite3"))
        with single.app_context():
            timing = timed_rebuild(single)
            db.engine.dispose()
        passages, rate = timing.passages, timing.passages / timing.seconds
        print(
            f"{args.profiles} profiles, {passages} passages ({timing.texts} distinct texts), "
            f"MiniLM on torch, 1 thread a process, chunks of {CHUNK}",
            flush=True,
        )
        print(
            f"one process (index rebuild): {timing.seconds:6.1f} s {rate:6.1f} passages/s; "
            f"{timing.cpu_text()}",
            flush=True,
        )
        expected = snapshot_vectors(single)
        one_worker = None
        for count in sorted({1, args.workers}):
            timing, built = on_workers(url, redis_url, count, folder / f"workers-{count}")
            one_worker = one_worker or timing.seconds
            print(
                f"{count} worker(s) on RQ:         {timing.seconds:6.1f} s "
                f"{passages / timing.seconds:6.1f} passages/s "
                f"({passages / timing.seconds / rate:.2f}x one process, "
                f"{one_worker / timing.seconds:.2f}x 1 worker); {timing.cpu_text()}; "
                f"{difference(expected, built)}",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{n:.1f}' for n in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=2, help="workers of the last run")
    add_arguments(parser)
    report(parser.parse_args())


if __name__ == "__main__":
    main()
