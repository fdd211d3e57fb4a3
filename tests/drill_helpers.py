"""A programme on disk for failure drills: its database, index and instance folder, the app
a (re)started worker would run on them, and the command line as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from partnermatch import PROJECT_ROOT
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.matching.search import search
from partnermatch.matching.snapshots import CURRENT_FILE
from tests.conftest import make_test_app

FLASK = Path(sys.executable).parent / "flask"


@dataclass
class Site:
    """One programme's files; every app made from it is a freshly started worker."""

    root: Path
    embedding_cache: Path

    @property
    def database(self) -> Path:
        return self.root / "programme.sqlite3"

    @property
    def index_dir(self) -> Path:
        return self.root / "data" / "index"

    def app(self) -> Flask:
        """A new app (a new engine, nothing loaded) on this site's files; errors become 500s."""
        return make_test_app(
            self.root,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{self.database}",
            DATA_DIR=str(self.root / "data"),
            EMBEDDING_CACHE=str(self.embedding_cache),
            PROPAGATE_EXCEPTIONS=False,
        )

    def copy(self, destination: Path) -> Site:
        """A copy of every file, for a drill that breaks things."""
        shutil.copytree(self.root, destination)
        return Site(destination, self.embedding_cache)

    def current_version(self) -> str:
        return (self.index_dir / CURRENT_FILE).read_text().strip()

    def versions(self) -> list[str]:
        return sorted(path.name for path in self.index_dir.glob("v*") if path.is_dir())

    def leftovers(self) -> list[str]:
        """Hidden files and folders a crashed write leaves in the index folder."""
        return sorted(path.name for path in self.index_dir.glob(".*"))

    def environment(self, embedding_cache: Path | None = None) -> dict[str, str]:
        """The environment of a command run on this site, as an operator would set it."""
        instance = self.root / "instance"
        instance.mkdir(exist_ok=True)
        cache = embedding_cache or self.embedding_cache
        (instance / "config.py").write_text(f"EMBEDDING_CACHE = {str(cache)!r}\n")
        return {
            **os.environ,
            "PARTNERMATCH_DATABASE_URL": f"sqlite:///{self.database}",
            "PARTNERMATCH_DATA_DIR": str(self.root / "data"),
            "PARTNERMATCH_INSTANCE_PATH": str(instance),
            "PARTNERMATCH_SECRET_KEY": "drill-secret-key",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }

    def start(
        self, *args: str, embedding_cache: Path | None = None, python: str | None = None
    ) -> subprocess.Popen:
        """Start `flask --app wsgi ARGS` (or a Python snippet that runs it) as a process."""
        command = (
            [sys.executable, "-c", python, *args]
            if python
            else [str(FLASK), "--app", "wsgi", *args]
        )
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=self.environment(embedding_cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen, timeout: float = 120
) -> None:
    """Wait until the condition holds while the process runs; fail if it ends or times out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the process ended first ({process.returncode}):\n{output}")
        if time.monotonic() > deadline:
            kill(process)
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.02)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL: no cleanup handler, no atexit, no finally block runs."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stdout:
        process.stdout.close()


def cached_vectors(path: Path) -> int:
    """How many vectors an embedding cache file holds (0 while it does not exist yet)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def top_names(app: Flask, query: str, limit: int = 3) -> list[str]:
    """The names of the best matches for a query, as the search library ranks them."""
    with app.app_context():
        found = search(get_engine(), query, limit=limit)
        names = [result.profile.name for result in found.results]
        db.session.remove()
        return names


def table_rows(app: Flask, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every row of every table (but those skipped): what "the database is untouched" compares."""
    with app.app_context():
        rows = {
            table.name: [
                tuple(row)
                for row in db.session.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).all()
            ]
            for table in db.metadata.sorted_tables
            if table.name not in skip
        }
        db.session.remove()
        return rows
