"""Two gunicorn workers: an edit made through one is found by a search served by the other."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
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


@pytest.fixture
def served(tmp_path, shared_embedding_cache):
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in this environment")
    settings = {
        "PARTNERMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'served.sqlite3'}",
        "PARTNERMATCH_DATA_DIR": str(tmp_path / "data"),
        "PARTNERMATCH_INSTANCE_PATH": str(tmp_path / "instance"),
        "PARTNERMATCH_SECRET_KEY": "served-test-key",
        "PARTNERMATCH_SERVED_BY_HEADER": "1",
        "PARTNERMATCH_API_RATE_LIMIT": "off",
    }
    app = make_test_app(
        tmp_path,
        SQLALCHEMY_DATABASE_URI=settings["PARTNERMATCH_DATABASE_URL"],
        DATA_DIR=settings["PARTNERMATCH_DATA_DIR"],
    )
    with app.app_context():
        db.create_all()
        target = make_profile(
            name="Andes Copper Foundry", economy="CL", offers="Sand casting of copper alloys."
        )
        for number in range(5):
            make_profile(name=f"Other {number}", offers=f"Machining service number {number}.")
        _token, secret = create_token(make_user(Role.COORDINATOR), "served")
        db.session.commit()
        get_engine().rebuild()
        target_id = target.id
        db.session.remove()
        db.engine.dispose()
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
                urllib.request.urlopen(f"{base}/healthz", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield base, secret, target_id
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


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
