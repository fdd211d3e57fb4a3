"""Load test: real gunicorn (2 workers, production settings) under mixed traffic, 127.0.0.1 only.

    .venv/bin/python bench/bench_load.py [--profiles 10000] [--requests 2000] [--users 10]
                                         [--rate 5] [--time-limit 600] [--embedding-cache F]

Everything is built in a temporary folder, with the operator's own commands:
- an SQLite database (`db upgrade`), the demo programme and its accounts (`demo load`), then
  synthetic profiles up to --profiles (bench/synthetic.py: the demo's sentences recombined),
  imported with `profiles import`;
- the search index (`index rebuild`). Passages are encoded through a persistent embedding
  cache kept outside the temporary folder (--embedding-cache), so a second run encodes
  nothing; 10,000 profiles are about 50,000 passages, several minutes the first time;
- one API token per simulated user (`tokens create`; the API limit stays at its default);
then gunicorn starts with gunicorn.conf.py (2 workers, 4 threads each), PARTNERMATCH_ENV=
production and a fresh secret key. Once /healthz answers and both workers have loaded the
model and the index, locust (as a library, headless) runs --users users at a combined --rate
tasks per second until --requests requests or --time-limit seconds, whichever comes first:
- the search page (`/search?q=...`) and the API search (`POST /api/v1/search`), with
  plain-language needs taken from the demo programme;
- profile pages (`/profiles/<id>`), which also show the profile's recommended partners;
- logins: the login form, then its POST with the form's CSRF token, for a demo account.
Every response is checked (results present, a login redirects), not only its status.
Printed: the time of each stage; throughput; p50/p99 per request kind and overall, as the
client saw them and as the application logged them; errors (goal: none); the CPU time the
workers spent per request, which says what free cores would serve even when the machine is
shared; and the workers' memory. The search p99 is printed beside the search benchmark's
figures from README's Benchmarks table.

Two settings differ from a production deployment, both because every simulated user comes
from 127.0.0.1: the login limit per client address (LOGIN_RATE_LIMIT, 10 per minute) is
raised, and the client keeps the `Secure` session cookie over plain HTTP on the loopback, as
browsers do for localhost; in production a TLS proxy sits in front.
"""

from __future__ import annotations

# locust patches the standard library for gevent when imported: before anything else uses it.
import locust  # noqa: F401

# isort: split

import argparse
import http.cookiejar
import itertools
import json
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import gevent
import numpy as np
import requests
from locust import HttpUser, constant_throughput, task
from locust.env import Environment
from synthetic import query_texts, synthetic_records

from partnermatch import PROJECT_ROOT
from partnermatch.demo import DEMO_ACCOUNTS, demo_records

BIN = Path(sys.executable).parent
DEMO_PASSWORD = "partnermatch-demo"
# README, Benchmarks: "10k profiles (50k vectors, exact): search p50 / p99", one query in one
# process, encoding not included; and the fresh-worker figure with encoding, at 100k profiles.
SEARCH_BENCHMARK = "bench_search at 10k profiles: p50 2.47 / p99 2.97 ms (index search alone)"
SEARCH_BENCHMARK_WITH_ENCODING = "at 100k, fresh worker, encoding included: p50 13.7 / p99 23.4 ms"
# Raised for the test only: every simulated user logs in from 127.0.0.1.
BENCH_LOGIN_RATE_LIMIT = "100000 per minute"
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
KINDS = ("search page", "api search", "profile view", "login form", "login submit")
# The application's request log: "partnermatch.requests: GET /search/ 200 12.3 ms".
REQUEST_LOG = re.compile(r"partnermatch\.requests: (GET|POST) (\S+) (\d{3}) ([\d.]+) ms")


def default_embedding_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "partnermatch" / "bench-embedding-cache.sqlite3"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000, help="profiles in the database")
    parser.add_argument("--requests", type=int, default=2_000, help="stop after this many")
    parser.add_argument("--users", type=int, default=10, help="simulated users at once")
    parser.add_argument(
        "--rate", type=float, default=5.0, help="tasks per second, all users together"
    )
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds of load at most")
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        default=default_embedding_cache(),
        help="persistent embedding cache shared between runs [default: %(default)s]",
    )
    parser.add_argument(
        "--multilingual",
        choices=("auto", "always", "off"),
        default="off",
        help="PARTNERMATCH_MULTILINGUAL of the served programme [default: %(default)s: the "
        "synthetic profiles are English, and auto would encode every passage a second time, "
        "about 20 minutes at 10k profiles on 2 cores before the first run's cache holds them]",
    )
    parser.add_argument("--index-threads", type=int, default=2, help="torch threads to index")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


# --- building the programme ---------------------------------------------------------------


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Print how long a stage took."""
    print(f"{name} ...", end="", flush=True)
    started = time.perf_counter()
    yield
    print(f" {time.perf_counter() - started:.1f} s", flush=True)


def flask(environment: dict[str, str], log: Path, *arguments: str) -> str:
    """Run one `flask --app wsgi` command; return its output, or stop with its log."""
    completed = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    with log.open("a") as handle:
        handle.write(f"$ flask --app wsgi {' '.join(arguments)}\n")
        handle.write(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        sys.exit(f"`flask {' '.join(arguments)}` failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout


def write_profiles(path: Path, count: int, seed: int) -> None:
    """Write `count` synthetic profiles as JSONL, the import format."""
    with path.open("w", encoding="utf-8") as handle:
        for record in synthetic_records(count, seed=seed):
            handle.write(json.dumps(record) + "\n")


def build_programme(args: argparse.Namespace, folder: Path, environment: dict[str, str]) -> dict:
    """Create the database, profiles, index and tokens; return what the users need."""
    log = folder / "setup.log"
    demo_count = sum(1 for _ in demo_records())
    synthetic_count = max(0, args.profiles - demo_count)
    source = folder / "profiles.jsonl"
    with stage(f"generate {synthetic_count} synthetic profiles"):
        write_profiles(source, synthetic_count, args.seed)
    with stage("db upgrade"):
        flask(environment, log, "db", "upgrade")
    with stage(f"demo load ({demo_count} profiles, {len(DEMO_ACCOUNTS)} accounts)"):
        flask(environment, log, "demo", "load")
    if synthetic_count:
        with stage(f"profiles import ({synthetic_count} profiles)"):
            flask(environment, log, "profiles", "import", str(source))
    cached_before = cached_vectors(args.embedding_cache)
    with stage(f"index rebuild, {cached_before} vectors in the cache before"):
        output = flask(
            environment, log, "index", "rebuild", "--threads", str(args.index_threads)
        ).strip()
    print(f"  {output.splitlines()[-1]}")
    print(f"  embedding cache: {cached_vectors(args.embedding_cache)} vectors after")
    tokens = []
    with stage(f"tokens create ({args.users} tokens)"):
        for number in range(args.users):
            account = DEMO_ACCOUNTS[number % len(DEMO_ACCOUNTS)]
            output = flask(
                environment, log, "tokens", "create", account.email, "--name", f"load {number}"
            )
            tokens.append(output.strip().splitlines()[-1])
    database = folder / "instance" / "partnermatch.sqlite3"
    with closing(sqlite3.connect(database)) as connection:
        profile_ids = [row[0] for row in connection.execute("SELECT id FROM profiles")]
    return {
        "tokens": tokens,
        "profile_ids": profile_ids,
        "queries": query_texts(200),
        "logins": [account.email for account in DEMO_ACCOUNTS],
    }


def cached_vectors(path: Path) -> int:
    """Return how many vectors the embedding cache holds."""
    if not path.exists():
        return 0
    with closing(sqlite3.connect(path)) as connection:
        try:
            return connection.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(base: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with status {server.returncode}")
        try:
            response = requests.get(f"{base}/healthz", timeout=30)
        except (requests.ConnectionError, requests.Timeout):  # workers still starting
            time.sleep(0.5)
            continue
        if response.status_code == 200:
            return
        sys.exit(f"/healthz answered {response.status_code}: {response.text}")
    sys.exit(f"gunicorn did not answer /healthz within {seconds:.0f} s")


def warm_up(base: str, programme: dict, workers: int = 2) -> None:
    """Load the model and the index in every worker, so that the load test measures serving."""
    seen: set[str] = set()
    headers = {"Authorization": f"Bearer {programme['tokens'][0]}"}
    for attempt in range(200):
        query = programme["queries"][attempt % len(programme["queries"])]
        for response in (
            requests.get(f"{base}/search/", params={"q": query}, timeout=120),
            requests.post(
                f"{base}/api/v1/search", json={"query": query}, headers=headers, timeout=120
            ),
            requests.get(f"{base}/profiles/{programme['profile_ids'][attempt]}", timeout=120),
        ):
            response.raise_for_status()
            seen.add(response.headers["X-Served-By"])
        if len(seen) >= workers and attempt >= 2 * workers:
            return
    sys.exit(f"warm-up reached only {len(seen)} of {workers} workers")


def worker_memory(master: int) -> list[float]:
    """Return the resident memory (MB) of each gunicorn worker process."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def worker_cpu_seconds(master: int) -> float:
    """Return the CPU time (user + system) the gunicorn workers have used so far."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    ticks = 0
    for pid in children:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15
    return ticks / os.sysconf("SC_CLK_TCK")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the load -----------------------------------------------------------------------------


class LoopbackCookieJar(requests.cookies.RequestsCookieJar):
    """Keep `Secure` cookies over HTTP to 127.0.0.1, as browsers do for localhost."""

    def set_cookie(self, cookie: http.cookiejar.Cookie, *args: object, **kwargs: object) -> None:
        cookie.secure = False
        super().set_cookie(cookie, *args, **kwargs)


class ProgrammeMember(HttpUser):
    """Someone using the programme: searches, reads profiles, logs in now and then."""

    programme: dict = {}
    tokens: Iterator[str] = iter(())

    def on_start(self) -> None:
        self.client.cookies = LoopbackCookieJar()
        # gunicorn closes a keep-alive connection idle for 2 s; a client that reuses it at that
        # moment gets a reset, which browsers retry silently and requests does not. So each
        # request has its own connection (cheap on the loopback).
        self.client.headers["Connection"] = "close"
        self.token = next(self.tokens)
        self.rng = random.Random(self.token)

    def query(self) -> str:
        return self.rng.choice(self.programme["queries"])

    @task(3)
    def search_page(self) -> None:
        with self.client.get(
            "/search/", params={"q": self.query()}, name="search page", catch_response=True
        ) as response:
            if 'class="profile-card result"' not in response.text:
                response.failure(f"{response.status_code}: no results on the search page")

    @task(2)
    def api_search(self) -> None:
        with self.client.post(
            "/api/v1/search",
            json={"query": self.query(), "limit": 10},
            headers={"Authorization": f"Bearer {self.token}"},
            name="api search",
            catch_response=True,
        ) as response:
            if response.ok and not response.json().get("results"):
                response.failure(f"{response.status_code}: no results from the API")

    @task(3)
    def profile_view(self) -> None:
        profile_id = self.rng.choice(self.programme["profile_ids"])
        with self.client.get(
            f"/profiles/{profile_id}", name="profile view", catch_response=True
        ) as response:
            if 'id="profile-title"' not in response.text:
                response.failure(f"{response.status_code}: no profile on the profile page")

    @task(1)
    def login(self) -> None:
        self.client.cookies.clear()  # a visitor who is not logged in yet
        with self.client.get("/login", name="login form", catch_response=True) as response:
            found = CSRF_FIELD.search(response.text)
            if not found:
                response.failure(f"{response.status_code}: no CSRF token in the login form")
                return
        form = {
            "csrf_token": found.group(1),
            "email": self.rng.choice(self.programme["logins"]),
            "password": DEMO_PASSWORD,
        }
        with self.client.post(
            "/login", data=form, allow_redirects=False, name="login submit", catch_response=True
        ) as response:
            if response.status_code != 302 or response.headers.get("Location") != "/":
                response.failure(f"login answered {response.status_code}, not a redirect to /")


def request_kind(method: str, path: str) -> str | None:
    if path.startswith("/search"):
        return "search page"
    if path == "/api/v1/search":
        return "api search"
    if path.startswith("/profiles/"):
        return "profile view"
    if path == "/login":
        return "login form" if method == "GET" else "login submit"
    return None


def server_times(log_text: str) -> dict[str, list[float]]:
    """Return the time the application itself took per request kind, from its request log."""
    times: dict[str, list[float]] = defaultdict(list)
    for method, path, _status, milliseconds in REQUEST_LOG.findall(log_text):
        kind = request_kind(method, path)
        if kind:
            times[kind].append(float(milliseconds))
    return times


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_load(base: str, programme: dict, args: argparse.Namespace) -> dict:
    """Run the load until the request count or the time limit; return what was recorded."""
    ProgrammeMember.programme = programme
    ProgrammeMember.tokens = iter(programme["tokens"])
    ProgrammeMember.wait_time = constant_throughput(args.rate / args.users)
    environment = Environment(user_classes=[ProgrammeMember], host=base)
    runner = environment.create_local_runner()
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    stopping = itertools.count(1)

    def stop_once() -> None:
        if next(stopping) == 1:
            gevent.spawn(runner.quit)

    def on_request(name: str, response_time: float, exception: Exception | None, **_: object):
        if sum(map(len, times.values())) >= args.requests:
            return  # sent before the stop: not counted
        times[name].append(response_time)
        if exception is not None:
            errors[name].append(str(exception))
        if sum(map(len, times.values())) >= args.requests:
            stop_once()

    environment.events.request.add_listener(on_request)
    gevent.spawn_later(args.time_limit, stop_once)
    started = time.perf_counter()
    runner.start(args.users, spawn_rate=args.users)
    runner.greenlet.join()
    return {"times": times, "errors": errors, "seconds": time.perf_counter() - started}


def report(result: dict, served: dict[str, list[float]], args: argparse.Namespace) -> None:
    times, errors, seconds = result["times"], result["errors"], result["seconds"]
    total = sum(map(len, times.values()))
    error_count = sum(map(len, errors.values()))
    print(
        f"\n{total} requests in {seconds:.1f} s: {total / seconds:.1f} requests/s "
        f"({args.users} users, {args.rate:g} tasks/s asked)"
    )
    print(
        f"{'':<14}{'client (end to end)':^34}{'':8}{'server (app log)':^18}\n"
        f"{'request':<14}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    every = [t for kind in KINDS for t in times.get(kind, [])]
    every_served = [t for kind in KINDS for t in served.get(kind, [])]
    rows = [(kind, times.get(kind, []), served.get(kind, [])) for kind in KINDS]
    rows.append(("overall", every, every_served))
    for kind, values, server in rows:
        failed = error_count if kind == "overall" else len(errors.get(kind, []))
        print(
            f"{kind:<14}{len(values):>7}{percentile_ms(values, 50):>9.1f}"
            f"{percentile_ms(values, 99):>9.1f}{max(values, default=float('nan')):>9.1f}"
            f"{failed:>8}{percentile_ms(server, 50):>9.1f}{percentile_ms(server, 99):>9.1f}"
        )
    searches = times.get("search page", []) + times.get("api search", [])
    print(
        f"Searches (page and API) end to end: p99 {percentile_ms(searches, 99):.1f} ms; "
        f"{SEARCH_BENCHMARK}; {SEARCH_BENCHMARK_WITH_ENCODING}"
    )
    print(f"Errors: {error_count} (goal 0)")
    for kind, messages in errors.items():
        for message, count in sorted(
            ((m, messages.count(m)) for m in set(messages)), key=lambda pair: -pair[1]
        )[:3]:
            print(f"  {kind}: {count} x {message[:200]}")


def main() -> None:
    args = parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args.embedding_cache.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"Load test: {args.profiles} profiles (multilingual {args.multilingual}), "
        f"{args.requests} requests at most, {args.users} "
        f"users, {args.rate:g} tasks/s, {args.time_limit:g} s at most; "
        f"load average before {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="bench-load-") as name:
        folder = Path(name)
        instance = folder / "instance"
        instance.mkdir()
        (instance / "config.py").write_text(
            f"EMBEDDING_CACHE = {str(args.embedding_cache.resolve())!r}\n"
            f"LOGIN_RATE_LIMIT = {BENCH_LOGIN_RATE_LIMIT!r}\n"
        )
        port = free_port()
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("PARTNERMATCH_")
        } | {
            "PARTNERMATCH_ENV": "production",
            "PARTNERMATCH_SECRET_KEY": secrets.token_hex(32),
            "PARTNERMATCH_INSTANCE_PATH": str(instance),
            "PARTNERMATCH_SERVED_BY_HEADER": "1",  # tells the warm-up which worker answered
            "PARTNERMATCH_BIND": f"127.0.0.1:{port}",
            "PARTNERMATCH_BASE_URL": f"http://127.0.0.1:{port}",  # production asks for it
            "PARTNERMATCH_WORKERS": "2",
            "PARTNERMATCH_MULTILINGUAL": args.multilingual,
        }
        programme = build_programme(args, folder, environment)
        server_log = folder / "gunicorn.log"
        base = f"http://127.0.0.1:{port}"
        with server_log.open("w") as log:
            server = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            with stage("gunicorn start, /healthz answers"):
                wait_until_healthy(base, server)
            with stage("warm-up: model and index loaded in both workers"):
                warm_up(base, programme)
            print(f"load ({args.users} users) ...", flush=True)
            log_start = server_log.stat().st_size
            cpu_before = worker_cpu_seconds(server.pid)
            result = run_load(base, programme, args)
            server_cpu = worker_cpu_seconds(server.pid) - cpu_before
            memory = worker_memory(server.pid)
        finally:
            stop(server)
        logged = server_log.read_text()
        report(result, server_times(logged[log_start:]), args)
        requests_done = sum(map(len, result["times"].values()))
        per_request = server_cpu / max(requests_done, 1)
        print(
            f"Worker CPU: {server_cpu:.1f} s for {requests_done} requests, "
            f"{1000 * per_request:.1f} ms a request: {os.cpu_count()} free cores would serve "
            f"about {os.cpu_count() / per_request:.0f} requests/s of this mix"
        )
        print(
            "Worker memory (RSS): "
            + ", ".join(f"{size:,.0f} MB" for size in memory)
            + f"; load average after {os.getloadavg()[0]:.2f}"
        )
        tracebacks = logged.count("Traceback")
        server_errors = len(re.findall(r'HTTP/1\.\d" 5\d\d ', logged))
        restarts = sum(
            logged.count(marker) for marker in ("WORKER TIMEOUT", "exited with code", ") was sent")
        )
        print(
            f"Server log: {server_errors} responses 5xx, {tracebacks} tracebacks, "
            f"{restarts} worker timeouts or exits"
        )
        if tracebacks or server_errors or restarts:
            print(logged[-4000:])


if __name__ == "__main__":
    main()
