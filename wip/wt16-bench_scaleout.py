"""Throughput of the scale-out rebuild (partnermatch/jobs/scaleout.py): the same passages
encoded by 1 and by N `jobs worker` processes into the embedding cache in PostgreSQL,
next to one process encoding them itself (the rebuild without Redis), in one run.

Needs a PostgreSQL server (an admin URL, as PARTNERMATCH_TEST_POSTGRES_URL gives the tests:
a database is created for each run and dropped) and redis-server (one is started on a free
port). Each worker encodes with one thread, as `jobs worker` does by default; the workers
load their model on warm-up chunks before the timing starts. Called by
`bench/bench_index.py --workers N`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from partnermatch import create_app
from partnermatch.extensions import db
from partnermatch.jobs.runner import job_queue
from partnermatch.jobs.scaleout import Chunk, run_chunks
from partnermatch.matching.embedder import Embedder, resolve_model
from partnermatch.matching.extension import get_engine

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 32
TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def redis_server() -> Iterator[str]:
    """Start a redis-server of the benchmark's own; yield its URL."""
    from redis import Redis

    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def database(admin_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database; yield its URL; drop it afterwards."""
    admin = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"partnermatch_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def single_process(texts: list[str], threads: int, folder: Path) -> float:
    """Passages a second of one process encoding into a cache file of its own."""
    encoder = Embedder(resolve_model(None, "torch", folder), folder / f"single-{threads}.sqlite3")
    encoder.threads = threads
    encoder.encode_queries(texts[:4])  # load the model outside the timing
    started = time.perf_counter()
    encoder.encode_passages(texts)
    return len(texts) / (time.perf_counter() - started)


def _start_worker(settings: dict[str, str], folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True)
    environment = {
        **os.environ,
        **settings,
        "PARTNERMATCH_DATA_DIR": str(folder / "data"),
        "PARTNERMATCH_INSTANCE_PATH": str(folder / "instance"),
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


def on_workers(texts: list[str], workers: int, admin_url: str, folder: Path) -> float:
    """Passages a second of `workers` worker processes encoding into a fresh shared cache."""
    with redis_server() as redis_url, database(admin_url) as url:
        settings = {
            "PARTNERMATCH_DATABASE_URL": url,
            "PARTNERMATCH_REDIS_URL": redis_url,
            "PARTNERMATCH_MULTILINGUAL": "off",
            "PARTNERMATCH_SECRET_KEY": "bench",
        }
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "REDIS_URL": redis_url,
                "MULTILINGUAL": "off",
                "EMBEDDING_CACHE": "database",
                "SECRET_KEY": "bench",
                "DATA_DIR": str(folder / "rebuilder"),
                "LOG_REQUESTS": False,
            },
            instance_path=folder / "instance",
        )
        processes = [_start_worker(settings, folder / f"worker-{n}") for n in range(workers)]
        try:
            with app.app_context():
                db.create_all()
                engine = get_engine()
                queue = job_queue(app)
                # Each worker loads its model in its first job: warm them all up first.
                warm_up = [
                    Chunk("minilm", [f"warm-up {n} {m}" for m in range(2)])
                    for n in range(4 * workers)
                ]
                run_chunks(engine, warm_up, queue, TIMEOUT)
                chunks = [
                    Chunk("minilm", texts[start : start + CHUNK])
                    for start in range(0, len(texts), CHUNK)
                ]
                started = time.perf_counter()
                run_chunks(engine, chunks, queue, TIMEOUT)
                rate = len(texts) / (time.perf_counter() - started)
                db.engine.dispose()
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
    return rate


def report(texts: list[str], workers: int, admin_url: str | None) -> None:
    """Print passages a second: one process (1 and 2 threads), 1 worker, `workers` workers."""
    if not admin_url:
        raise SystemExit(
            "--workers needs a PostgreSQL server: set PARTNERMATCH_TEST_POSTGRES_URL or give "
            "--postgres-url (an admin URL; a database is created and dropped per run)."
        )
    print(
        f"{len(texts)} passages, MiniLM on torch, chunks of {CHUNK}, load average "
        f"{os.getloadavg()[0]:.1f} before"
    )
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp:
        folder = Path(tmp)
        for threads in (1, 2):
            rate = single_process(texts, threads, folder)
            print(f"single process, {threads} thread(s): {rate:7.1f} passages/s", flush=True)
        baseline = None
        for count in sorted({1, workers}):
            rate = on_workers(texts, count, admin_url, folder / f"run-{count}")
            baseline = baseline or rate
            print(
                f"{count} worker(s) on RQ, 1 thread each: {rate:7.1f} passages/s "
                f"({rate / baseline:.2f}x 1 worker)",
                flush=True,
            )
    print(f"load average after {os.getloadavg()[0]:.1f}")
