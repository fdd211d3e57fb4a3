"""Two gunicorn workers: an edit made through one is found by a search served by the other."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from partnermatch import PROJECT_ROOT
from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from tests.conftest import make_test_app
from tests.factories import make_profile, make_user

GUNICORN = Path(sys.executable).parent / "gunicorn"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url: str, token: str, method: str = "GET", body: dict | None = None) -> tuple[str, dict]:
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers["X-Served-By"], json.loads(response.read())


def serve(tmp_path: Path, settings: dict[str, str], ready: str = "/healthz"):
    """Start gunicorn with 2 workers on the app configured by `settings` (environment
    variables); yield its base URL and stop it afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        **settings,
        "PARTNERMATCH_BIND": f"127.0.0.1:{port}",
        "PARTNERMATCH_WORKERS": "2",
        "PARTNERMATCH_THREADS": "2",
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}{ready}", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def served_settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PARTNERMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "PARTNERMATCH_DATA_DIR": str(tmp_path / "data"),
        "PARTNERMATCH_INSTANCE_PATH": str(tmp_path / "instance"),
        "PARTNERMATCH_SECRET_KEY": "served-test-key",
        "PARTNERMATCH_SERVED_BY_HEADER": "1",
        **extra,
    }


@contextmanager
def served_database(tmp_path: Path, settings: dict[str, str]) -> Iterator[None]:
    """Fill the database the served app will use, in an app context of the test's own."""
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in this environment")
    app = make_test_app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=settings["PARTNERMATCH_DATABASE_URL"],
        DATA_DIR=settings["PARTNERMATCH_DATA_DIR"],
    )
    with app.app_context():
        db.create_all()
        yield
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def served(tmp_path, shared_embedding_cache):
    settings = served_settings(tmp_path, PARTNERMATCH_API_RATE_LIMIT="off")
    with served_database(tmp_path, settings):
        target = make_profile(
            name="Andes Copper Foundry", economy="CL", offers="Sand casting of copper alloys."
        )
        for number in range(5):
            make_profile(name=f"Other {number}", offers=f"Machining service number {number}.")
        _token, secret = create_token(make_user(Role.COORDINATOR), "served")
        db.session.commit()
        get_engine().rebuild()
        target_id = target.id
    for base in serve(tmp_path, settings):
        yield base, secret, target_id


def test_an_edit_through_one_worker_is_found_by_the_other(served):
    base, token, target_id = served

    def searches(text: str, count: int) -> list[tuple[str, int]]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = pool.map(
                lambda _: call(f"{base}/api/v1/search", token, "POST", {"query": text, "limit": 1}),
                range(count),
            )
            return [(worker, body["results"][0]["id"]) for worker, body in answers]

    workers = set()
    for _ in range(10):  # warm both workers (each loads the model and the index)
        workers |= {worker for worker, _ in searches("copper casting", 8)}
        if len(workers) == 2:
            break
    assert len(workers) == 2, "the load did not reach both workers"

    editor, _ = call(
        f"{base}/api/v1/profiles/{target_id}",
        token,
        "PATCH",
        {"offers": "Violins made from tropical tonewoods."},
    )
    answers = []
    for _ in range(10):
        answers += searches("violin making from tropical woods", 8)
        if {worker for worker, _ in answers} >= workers:
            break

    assert {
        worker for worker, _ in answers
    } == workers  # both workers answered, the editor's peer too
    assert {found for _, found in answers} == {target_id}
    assert editor in workers


# --- limits that hold across workers ----------------------------------------------------------

LOGIN_LIMIT = 5
API_LIMIT = 6


@pytest.fixture
def limited(tmp_path):
    """Two workers without Redis, with small login and API limits; no search index needed."""
    settings = served_settings(tmp_path, PARTNERMATCH_API_RATE_LIMIT=f"{API_LIMIT} per minute")
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "config.py").write_text(
        f'LOGIN_RATE_LIMIT = "{LOGIN_LIMIT} per minute"\n'
    )
    with served_database(tmp_path, settings):
        _token, secret = create_token(make_user(Role.SME), "limited")
        db.session.commit()
    for base in serve(tmp_path, settings, ready="/login"):
        yield base, secret


def answers(make: Callable[[int], urllib.request.Request], count: int) -> list[tuple[int, str]]:
    """Send `count` requests eight at a time, then more until both workers have answered (a
    worker that answers even one proves the counter shared: counting alone, its first
    requests would pass); return each one's status and serving worker."""

    def send(number: int) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(make(number), timeout=60) as response:
                return response.status, response.headers["X-Served-By"]
        except urllib.error.HTTPError as error:
            return error.code, error.headers["X-Served-By"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(send, range(count)))
        for _ in range(20):
            if len({worker for _status, worker in statuses}) == 2:
                break
            statuses += pool.map(send, range(len(statuses), len(statuses) + 8))
    assert len({worker for _status, worker in statuses}) == 2, "one worker answered them all"
    return statuses


def test_wrong_logins_are_counted_once_for_both_workers(limited):
    base, _secret = limited
    with urllib.request.urlopen(f"{base}/login", timeout=60) as page:
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.read().decode())[1]
    form = urllib.parse.urlencode(
        {"csrf_token": token, "email": "nobody@example.org", "password": "a wrong guess"}
    ).encode()

    statuses = answers(
        lambda _n: urllib.request.Request(f"{base}/login", data=form, headers={"Cookie": cookie}),
        4 * LOGIN_LIMIT,
    )

    refused = len(statuses) - LOGIN_LIMIT
    assert sorted(status for status, _worker in statuses) == [200] * LOGIN_LIMIT + [429] * refused


def test_a_token_has_one_bucket_for_both_workers_however_its_header_is_spelt(limited):
    base, secret = limited
    spellings = [f"Bearer {secret}", f"bearer {secret}", f"BEARER {secret}", f"Bearer  {secret}"]

    statuses = answers(
        lambda n: urllib.request.Request(
            f"{base}/api/v1/reference", headers={"Authorization": spellings[n % 4]}
        ),
        4 * API_LIMIT,
    )

    refused = len(statuses) - API_LIMIT
    assert sorted(status for status, _worker in statuses) == [200] * API_LIMIT + [429] * refused


def test_a_chunked_body_past_256_kb_gets_413_from_a_real_server(limited):
    """gunicorn passes a chunked body without Content-Length: the limit must hold anyway."""
    base, secret = limited
    host, port = base.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(
            (
                "POST /api/v1/search HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {secret}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
            + b'10\r\n{"query": "xxxxx\r\n'
        )
        try:  # 1 MB; the server may answer and close before it has read it all
            for _ in range(16):
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b'2\r\n"}\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass
        status_line = connection.makefile("rb").readline()

    assert status_line.split()[1] == b"413", status_line
