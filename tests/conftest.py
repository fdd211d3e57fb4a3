"""Fixtures: app -> db -> client / runner / login_as, each test with its own database.

Every test runs on SQLite. A test module marked `postgres` runs a second time on a real
PostgreSQL server: each test gets a database of its own there, created from the admin URL in
PARTNERMATCH_TEST_POSTGRES_URL (`.ci/run` starts the server and sets it; see README,
Development). Without it those runs are skipped, except in CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from partnermatch import create_app
from partnermatch.auth.models import User
from partnermatch.demo import load_demo
from partnermatch.extensions import db as database
from partnermatch.matching.extension import get_engine
from tests import servers
from tests.factories import PASSWORD

# Hypothesis writes nothing to the working tree: tests write only to temporary folders.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))
hypothesis_settings.register_profile("partnermatch", database=None)
hypothesis_settings.load_profile("partnermatch")


# MiniLM runs on ONNX Runtime, as it ships: exported once for the whole run (and every server
# a test starts, which inherits the environment), not once per test's DATA_DIR.
os.environ["PARTNERMATCH_MODELS_DIR"] = tempfile.mkdtemp(prefix="partnermatch-models-")

POSTGRES_URL_VARIABLE = "PARTNERMATCH_TEST_POSTGRES_URL"

# The database of each test folder that is not the default SQLite file: an app made again on
# the same folder (a second worker, a restart) finds the same database.
_databases_by_folder: dict[Path, str] = {}
# Apps made during the current test, whose connection pools are closed when it ends.
_apps_made: list[Flask] = []


def make_test_app(tmp_path: Path, **overrides: object) -> Flask:
    database_url = _databases_by_folder.get(tmp_path, f"sqlite:///{tmp_path / 'test.sqlite3'}")
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "WTF_CSRF_ENABLED": False,
        # Fast hashing keeps the suite quick; production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "PROFILES_PER_PAGE": 5,
        # Tests log in often from one address; the limits have tests of their own.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "REGISTER_RATE_LIMIT": "1000 per minute",
        "LOG_REQUESTS": False,
        # The default, whatever the shell exports: tests of `off` ask for it.
        "MULTILINGUAL": "auto",
        **overrides,
    }
    app = create_app(settings, instance_path=tmp_path / "instance")
    _apps_made.append(app)
    return app


@pytest.fixture(autouse=True)
def close_connection_pools() -> Iterator[None]:
    """Close the pooled connections of every app a test made (a second worker, a restart):
    left to the garbage collector, a PostgreSQL connection warns in whichever test runs then."""
    yield
    while _apps_made:
        with _apps_made.pop().app_context():
            for engine in database.engines.values():
                engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres"):
            backends.append("postgresql")
        metafunc.parametrize("database_backend", backends, indirect=True, scope="module")


def skip_or_fail_in_ci(reason: str) -> NoReturn:
    """Something a test needs (a server, a browser) is missing: skip locally, but fail in CI,
    where `.ci/run` installs it."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_postgres(purpose: str) -> None:
    """Skip (fail in CI) unless a PostgreSQL server is given for `purpose`."""
    if not os.environ.get(POSTGRES_URL_VARIABLE):
        skip_or_fail_in_ci(f"{POSTGRES_URL_VARIABLE} is not set: {purpose}")


@pytest.fixture(scope="module")
def database_backend(request: pytest.FixtureRequest) -> str:
    backend = getattr(request, "param", "sqlite")
    if backend == "postgresql":
        require_postgres("no PostgreSQL server to test against")
    return backend


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database for one test (or module) and drop it afterwards."""
    with servers.postgres_database(os.environ[POSTGRES_URL_VARIABLE]) as url:
        yield url


@contextmanager
def database_for_folder(folder: Path, backend: str) -> Iterator[None]:
    """Give the apps made on `folder` their database on `backend` (SQLite needs nothing)."""
    if backend == "sqlite":
        yield
        return
    with postgres_database() as url:
        _databases_by_folder[folder] = url
        try:
            yield
        finally:
            del _databases_by_folder[folder]


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of the test's own, on a free port (skipped without one, failed in CI)."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing: .ci/run installs it for the rq back-end's tests")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with servers.redis_server(server) as url:
        yield url


@pytest.fixture(scope="session")
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: the demo texts are encoded once, not per test."""
    return tmp_path_factory.mktemp("embeddings") / "embedding-cache.sqlite3"


@pytest.fixture
def app(tmp_path: Path, shared_embedding_cache: Path, database_backend: str) -> Iterator[Flask]:
    with database_for_folder(tmp_path, database_backend):
        app = make_test_app(tmp_path, EMBEDDING_CACHE=str(shared_embedding_cache))
        with app.app_context():
            yield app
            database.session.remove()
            database.engine.dispose()


@pytest.fixture(scope="module")
def demo_app(
    tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache: Path, database_backend: str
) -> Iterator[Flask]:
    """The demo programme, indexed once per module: for tests that only read."""
    folder = tmp_path_factory.mktemp("demo")
    with database_for_folder(folder, database_backend):
        app = make_test_app(folder, EMBEDDING_CACHE=str(shared_embedding_cache))
        with app.app_context():
            database.create_all()
            load_demo(app.config["DEMO_PASSWORD"])
            database.session.commit()
            get_engine().rebuild()
            database.session.remove()
        yield app
        with app.app_context():
            database.engine.dispose()


@pytest.fixture
def demo(demo_app: Flask) -> Iterator[Flask]:
    with demo_app.app_context():
        yield demo_app
        database.session.remove()


@pytest.fixture
def db(app: Flask) -> Iterator:
    database.create_all()
    yield database


@pytest.fixture
def client(app: Flask, db) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask, db) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Log a user in through the login form, as a person would."""

    def login(user: User, password: str = PASSWORD) -> FlaskClient:
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, "login failed"
        return client

    return login
