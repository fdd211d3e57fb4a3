"""A rebuild that scales out: RQ workers in processes of their own encode the passages into
the cache in PostgreSQL, and the rebuilding process assembles the index from that cache.

Against real servers: PostgreSQL from PARTNERMATCH_TEST_POSTGRES_URL and a redis-server of
the test's own (skipped without them, failed in CI, where `.ci/run` provides both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import func, select

from partnermatch.extensions import db as database
from partnermatch.jobs import scaleout
from partnermatch.matching import embedder
from partnermatch.matching.extension import get_engine
from partnermatch.matching.passages import passage_id
from partnermatch.matching.shared_cache import EMBEDDING_CACHE_TABLE
from tests.conftest import make_test_app, postgres_database, require_postgres
from tests.factories import make_profile
from tests.servers import snapshot_vectors, stop_processes

ROOT = Path(__file__).resolve().parents[1]
PROFILES = 30
CHUNK = 8
# What a workshop, a lab or an SME might say: combined, every profile's texts differ.
CRAFTS = ["die casting", "battery packs", "rice milling", "solar inverters", "cold chains"]
PLACES = ["Hanoi", "Kaohsiung", "Bandung", "Chiang Mai", "Penang", "Cebu"]


@dataclass
class Programme:
    """One PostgreSQL database and one Redis, and the machines (folders) that use them."""

    database_url: str
    redis_url: str
    folder: Path

    def machine(self, name: str, **settings: object) -> Flask:
        """An app with a DATA_DIR of its own, on the programme's database and Redis."""
        options = {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "REDIS_URL": self.redis_url,
            "EMBEDDING_CACHE": "database",
            "MULTILINGUAL": "off",
            "ENCODE_CHUNK": CHUNK,
            **settings,
        }
        return make_test_app(self.folder / name, **options)

    def start_worker(self, name: str, stall_marker: Path | None = None) -> subprocess.Popen:
        """Start `jobs worker` in a process of its own, with its own DATA_DIR."""
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        environment = {
            **os.environ,
            "PARTNERMATCH_DATABASE_URL": self.database_url,
            "PARTNERMATCH_REDIS_URL": self.redis_url,
            "PARTNERMATCH_DATA_DIR": str(folder / "data"),
            "PARTNERMATCH_INSTANCE_PATH": str(folder / "instance"),
            "PARTNERMATCH_MULTILINGUAL": "off",
            "PARTNERMATCH_SECRET_KEY": "test-secret-key",
            "PYTHONPATH": str(ROOT),
        }
        arguments = [str(stall_marker)] if stall_marker else []
        with open(folder / "worker.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, str(ROOT / "tests" / "scaleout_worker.py"), *arguments],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )


@pytest.fixture
def programme(tmp_path: Path, redis_url: str) -> Iterator[Programme]:
    require_postgres("the scale-out rebuild is tested on PostgreSQL")
    with postgres_database() as url:
        programme = Programme(url, redis_url, tmp_path)
        app = programme.machine("setup", REDIS_URL=None)
        with app.app_context():
            database.create_all()
            for number in range(PROFILES):
                craft, place = CRAFTS[number % len(CRAFTS)], PLACES[number % len(PLACES)]
                make_profile(
                    name=f"{place} {craft.title()} {number}",
                    summary=f"Workshop {number} in {place} working on {craft} for export buyers.",
                    offers=f"{craft.capitalize()} at batch sizes from {10 * number + 5} units.",
                    needs=f"A partner {number} for testing {craft} against regional standards.",
                )
            database.session.remove()
        yield programme
        with app.app_context():
            database.engine.dispose()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    stop_processes(started)


def forbid_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process unable to encode: what it indexes must come from the cache."""

    def refuse(self, texts, batch_size):
        raise AssertionError(f"this process encoded {len(texts)} texts")

    monkeypatch.setattr(embedder.Embedder, "_encode", refuse)


def programme_texts(app: Flask) -> tuple[set[str], set[int]]:
    """The distinct passage texts of the programme, and its passages' ids."""
    with app.app_context():
        engine = get_engine()
        batch = engine.source.passages(engine.source.profile_ids())
        ids = {passage_id(pid, pos) for pid, passages in batch for pos in range(len(passages))}
        return set(engine.encoder.texts_to_encode(batch)["minilm"]), ids


def cache_rows(app: Flask) -> int:
    with app.app_context():
        return database.session.scalar(select(func.count()).select_from(EMBEDDING_CACHE_TABLE))


def test_two_workers_build_the_index_a_single_process_builds(programme, workers, monkeypatch):
    # The reference: one process encoding everything itself, into a cache file of its own.
    single = programme.machine(
        "single", REDIS_URL=None, EMBEDDING_CACHE=str(programme.folder / "single.sqlite3")
    )
    with single.app_context():
        get_engine().rebuild()
    expected = snapshot_vectors(single)
    texts, _ids = programme_texts(single)
    forbid_encoding(monkeypatch)
    rebuilder = programme.machine("rebuilder")
    assert cache_rows(rebuilder) == 0
    workers += [programme.start_worker("worker-1"), programme.start_worker("worker-2")]

    with rebuilder.app_context():
        result = rebuilder.test_cli_runner().invoke(args=["index", "rebuild"])

    assert result.exit_code == 0, result.output
    chunks = -(-len(texts) // CHUNK)
    assert f"{len(texts)} passages are not in the shared cache: {chunks} chunks" in result.output
    built = snapshot_vectors(rebuilder)
    assert built.keys() == expected.keys()
    for name, vectors in expected.items():
        assert sorted(built[name]) == sorted(vectors)
        for passage, vector in vectors.items():
            np.testing.assert_allclose(built[name][passage], vector, atol=1e-5)
    assert cache_rows(rebuilder) == len(texts)


def test_a_worker_killed_mid_chunk_loses_and_duplicates_no_passage(programme, workers, monkeypatch):
    forbid_encoding(monkeypatch)
    marker = programme.folder / "stalled"
    workers.append(programme.start_worker("worker-killed", stall_marker=marker))

    def kill_it_mid_chunk_and_start_another() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        workers.append(programme.start_worker("worker-2"))

    killer = threading.Thread(target=kill_it_mid_chunk_and_start_another)
    killer.start()
    rebuilder = programme.machine("rebuilder", ENCODE_CHUNK_TIMEOUT=20)
    with rebuilder.app_context():
        result = rebuilder.test_cli_runner().invoke(args=["index", "rebuild"])
    killer.join()

    assert marker.exists() and workers[0].returncode == -signal.SIGKILL
    assert result.exit_code == 0, result.output
    texts, ids = programme_texts(rebuilder)
    assert cache_rows(rebuilder) == len(texts)  # one row per text: none lost, none twice
    with rebuilder.app_context():
        assert get_engine().encoder.missing("minilm", sorted(texts)) == []
    built = snapshot_vectors(rebuilder)
    assert set(built["capability"]) | set(built["needs"]) == ids


def test_a_new_web_machine_builds_its_index_from_the_shared_cache(programme, monkeypatch):
    first = programme.machine("web-1", REDIS_URL=None)
    with first.app_context():
        get_engine().rebuild()  # encodes here, into the cache in the database
    expected = snapshot_vectors(first)

    forbid_encoding(monkeypatch)
    second = programme.machine("web-2", REDIS_URL=None)
    assert not (programme.folder / "web-2" / "data" / "index").exists()
    with second.app_context():
        manifest = get_engine().rebuild()

    assert manifest.profiles == PROFILES
    built = snapshot_vectors(second)
    for name, vectors in expected.items():
        assert sorted(built[name]) == sorted(vectors)
        for passage, vector in vectors.items():
            np.testing.assert_allclose(built[name][passage], vector, atol=1e-6)


def test_without_a_shared_cache_a_rebuild_does_not_scale_out(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # never reached
    # The test app's cache is an SQLite file: workers elsewhere could not write to it.
    assert not scaleout.scales_out(app, get_engine())
    assert scaleout.chunks_to_encode(app, get_engine()) == []


def test_without_any_worker_the_rebuild_stops_and_the_old_index_keeps_serving(programme):
    rebuilder = programme.machine("rebuilder", ENCODE_CHUNK_TIMEOUT=2)
    with rebuilder.app_context():
        result = rebuilder.test_cli_runner().invoke(args=["index", "rebuild"])

        assert result.exit_code == 1
        assert "No RQ worker took the" in result.output
        assert "start `flask --app wsgi jobs worker`" in result.output
        assert get_engine().status().manifest is None  # no snapshot half made
