"""Fixtures: app -> db -> client / runner / login_as, each test with its own database."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

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
from tests.factories import PASSWORD

# Hypothesis writes nothing to the working tree: tests write only to temporary folders.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))
hypothesis_settings.register_profile("partnermatch", database=None)
hypothesis_settings.load_profile("partnermatch")


def make_test_app(tmp_path: Path, **overrides: object) -> Flask:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "DATA_DIR": str(tmp_path / "data"),
        "WTF_CSRF_ENABLED": False,
        # Fast hashing keeps the suite quick; production uses scrypt.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "PROFILES_PER_PAGE": 5,
        # Tests log in often from one address; the limits have tests of their own.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "REGISTER_RATE_LIMIT": "1000 per minute",
        "LOG_REQUESTS": False,
        **overrides,
    }
    return create_app(settings, instance_path=tmp_path / "instance")


@pytest.fixture(scope="session")
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: the demo texts are encoded once, not per test."""
    return tmp_path_factory.mktemp("embeddings") / "embedding-cache.sqlite3"


@pytest.fixture
def app(tmp_path: Path, shared_embedding_cache: Path) -> Iterator[Flask]:
    app = make_test_app(tmp_path, EMBEDDING_CACHE=str(shared_embedding_cache))
    with app.app_context():
        yield app
        database.session.remove()
        database.engine.dispose()


@pytest.fixture(scope="module")
def demo_app(
    tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache: Path
) -> Iterator[Flask]:
    """The demo programme, indexed once per module: for tests that only read."""
    app = make_test_app(
        tmp_path_factory.mktemp("demo"), EMBEDDING_CACHE=str(shared_embedding_cache)
    )
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
