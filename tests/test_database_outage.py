"""Failure drill: the database server stops mid-request, then comes back.

The app talks to PostgreSQL through a small TCP relay that the test can cut, as a stopped or
restarted server (or a network failure) would: every open connection drops and new ones are
refused. The app must stay up, answer with a clear 503 rather than a crash, keep nothing of the
interrupted request, lose nothing committed before, and serve normally once the server is back.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from partnermatch.auth.tokens import create_token
from partnermatch.extensions import db
from partnermatch.profiles import services as profile_services
from partnermatch.profiles.models import Profile
from tests.conftest import make_test_app, postgres_database, require_postgres
from tests.factories import PASSWORD, make_profile, make_user, profile_form


class Relay:
    """Forward a local port to the database server until cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.open:
                    client.close()
                    continue
                server = socket.create_connection(self.target)
                self.connections += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones: the server is gone."""
        with self.lock:
            self.open = False
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.connections.clear()

    def restore(self) -> None:
        with self.lock:
            self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relayed_app(tmp_path: Path, shared_embedding_cache: Path) -> Iterator[tuple]:
    require_postgres("this drill needs a PostgreSQL server")
    with postgres_database() as url:
        direct = make_url(url)
        relay = Relay(direct.host or "127.0.0.1", direct.port or 5432)
        relayed = direct.set(host="127.0.0.1", port=relay.port)
        app = make_test_app(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=relayed.render_as_string(hide_password=False),
            EMBEDDING_CACHE=str(shared_embedding_cache),
        )
        try:
            with app.app_context():
                db.create_all()
                yield app, relay
                db.session.remove()
                db.engine.dispose()
        finally:
            relay.close()


def summary_of(profile_id: int) -> str:
    db.session.rollback()
    return db.session.scalar(select(Profile.summary).where(Profile.id == profile_id))


def test_a_database_outage_mid_request_loses_nothing_and_the_app_recovers(relayed_app, monkeypatch):
    app, relay = relayed_app
    owner = make_user(email="owner@example.org", role="sme")
    profile = make_profile(owner=owner, name="Busan Precision Casting", summary="Committed text.")
    _token, api_secret = create_token(owner, "drill")
    db.session.commit()
    profile_id = profile.id
    client = app.test_client()
    login = client.post("/login", data={"email": owner.email, "password": PASSWORD})
    assert login.status_code == 302
    assert client.get(f"/profiles/{profile_id}").status_code == 200

    # The server stops after the edit reached the database, before it was committed.
    real_update = profile_services.update_profile

    def update_then_lose_the_server(*args, **kwargs):
        result = real_update(*args, **kwargs)
        db.session.flush()
        relay.cut()
        return result

    monkeypatch.setattr(profile_services, "update_profile", update_then_lose_the_server)
    edit = client.post(
        f"/profiles/{profile_id}/edit",
        data=profile_form(summary="Half-written text that must never appear."),
    )
    assert edit.status_code == 503
    assert "database cannot be reached" in edit.get_data(as_text=True)
    assert edit.headers["Retry-After"]

    # While it is down: pages, the API and the health check say so, clearly.
    page = client.get(f"/profiles/{profile_id}")
    assert page.status_code == 503
    assert "Temporarily unavailable" in page.get_data(as_text=True)
    api = client.get("/api/v1/profiles", headers={"Authorization": f"Bearer {api_secret}"})
    assert api.status_code == 503
    assert api.get_json()["error"]["code"] == "unavailable"
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["database"].startswith("unreachable")

    # Back up: the next requests succeed on fresh connections, the committed text is
    # intact and nothing of the interrupted edit was kept.
    relay.restore()
    monkeypatch.undo()
    assert client.get(f"/profiles/{profile_id}").status_code == 200
    assert summary_of(profile_id) == "Committed text."
