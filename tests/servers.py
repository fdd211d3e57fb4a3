"""Real servers for the tests and the benchmarks that need them: a redis-server of one's own
on a free port, and a throwaway database on a PostgreSQL server (from an admin URL, as
PARTNERMATCH_TEST_POSTGRES_URL gives it; `.ci/run` starts one). Also how two machines'
indexes are compared. Used by tests/conftest.py's fixtures, tests/test_scaleout.py and
bench/bench_scaleout.py.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ProgrammingError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def redis_server(executable: str) -> Iterator[str]:
    """Start `executable` (redis-server) on a free port, without persistence; yield its URL
    once it answers; stop it afterwards."""
    from redis import Redis

    port = free_port()
    arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([executable, *arguments], stdout=subprocess.DEVNULL)
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


def stop_processes(processes: list[subprocess.Popen], timeout: float = 30) -> None:
    """Stop these processes (RQ workers): SIGTERM lets one finish its job; kill one that is
    still running `timeout` seconds later."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def postgres_database(admin_url: str, prefix: str = "partnermatch_test") -> Iterator[str]:
    """Create an empty database on the server of `admin_url`; yield its URL; drop it."""
    admin = make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.set(database=name).render_as_string(hide_password=False)
        _drop_database(engine, name)
    finally:
        engine.dispose()


def _drop_database(admin: Engine, name: str, attempts: int = 5) -> None:
    # FORCE ends the backends still attached; an autovacuum worker belongs to the superuser,
    # which a test role may not end without pg_signal_backend (.ci/run grants it): it is gone
    # within moments, so try again.
    for attempt in range(attempts):
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def snapshot_vectors(app) -> dict[str, dict[int, np.ndarray]]:
    """Each vector index of the app's current snapshot: passage id -> vector (to compare
    the index one machine built with another's)."""
    from partnermatch.matching.extension import get_engine
    from partnermatch.matching.index import _stored_vectors

    with app.app_context():
        index = get_engine().sync()
        return {
            name: dict(zip(part.row_ids.tolist(), _stored_vectors(part.base), strict=True))
            for name in ("capability", "needs")
            for part in [index.vectors(name)]
        }
