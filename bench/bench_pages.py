"""Server time per page, split into stages, next to what the model and the engine cost.

    .venv/bin/python bench/bench_pages.py [--profiles 98 10000] [--requests 60]
                                          [--embedding-cache FILE]

For each programme size (the demo programme, then synthetic profiles added up to the size,
bench/synthetic.py), in one process with one torch thread as a web worker runs, through
Flask's test client (no network; the time is the server's):
- the raw MiniLM query encoding of the same queries, and the engine's own search
  (`MatchingEngine.search`, encoding included), as the floor a page stands on;
- each page kind: the search page, the API search with limit 20 and 100, a profile page's
  first view (its recommendations computed) and a later one (kept), an SME's home, the
  review queue and the dashboard, each requested --requests times (p50 and p99);
- each page's time split into stages: query encoding (both models), retrieval (the engine's
  search less its encoding), explanation (the facts of each result and recommendation),
  SQL (time inside the database driver), rendering (Jinja) and the rest.
Goals at demo scale on a quiet machine: search page p50 <= 25 ms (<= 2.5x the raw query
encoding) and p99 <= 50 ms, API search (limit 100) p50 <= 30 ms, a profile page's first view
p50 <= 60 ms; at 10k profiles the search page p99 <= 60 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, select
from synthetic import query_texts, synthetic_records

from partnermatch import create_app
from partnermatch.auth.models import User
from partnermatch.demo import load_demo
from partnermatch.extensions import db
from partnermatch.matching import engine as engine_module
from partnermatch.matching import recommend
from partnermatch.matching import search as search_module
from partnermatch.matching.embedder import Embedder, MultilingualEmbedder, set_torch_threads
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.models import Profile
from partnermatch.profiles.transfer import create_from_record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PASSWORD = "bench-pages-password"
STAGES = ("encoding", "retrieval", "explanation", "sql", "rendering", "other")


class Stages:
    """Time spent in each stage during one request, gathered by wrapping the code that does
    each (the wrappers time nested calls once: the outermost counts)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth: dict[str, int] = defaultdict(int)

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        self._depth[stage] += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._depth[stage] -= 1
            if not self._depth[stage]:
                self.seconds[stage] += time.perf_counter() - started

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timing(stage):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def reset(self) -> None:
        self.seconds.clear()


def instrument(app: Any, stages: Stages, wrap_code: bool = True) -> None:
    """Wrap each stage's code (once per process); SQL is timed at each app's driver,
    rendering by Jinja's render."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(*_args: Any) -> None:
        stages.seconds["_sql_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(*_args: Any) -> None:
        stages.seconds["sql"] += time.perf_counter() - stages.seconds.pop("_sql_started", 0.0)

    if not wrap_code:
        return
    for owner in (Embedder, MultilingualEmbedder):
        stages.wrap(owner, "encode_query", "encoding")
        stages.wrap(owner, "encode_queries", "encoding")
    stages.wrap(engine_module.MatchingEngine, "search", "search")
    stages.wrap(engine_module.MatchingEngine, "pairs_by_passage", "search")
    stages.wrap(engine_module.MatchingEngine, "best_passage_pairs", "search")
    stages.wrap(search_module, "explain_search", "explanation")
    stages.wrap(recommend, "_score", "explanation")
    import jinja2

    stages.wrap(jinja2.Template, "render", "rendering")


def build_app(folder: Path, profiles: int, embedding_cache: Path | None) -> Any:
    settings: dict[str, Any] = {
        "SECRET_KEY": "bench-pages",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
        "DATA_DIR": str(folder / "data"),
        "WTF_CSRF_ENABLED": False,
        "LOG_REQUESTS": False,
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "API_RATE_LIMIT": "off",
        "EMBEDDING_THREADS": 2,
    }
    if embedding_cache is not None:
        settings["EMBEDDING_CACHE"] = str(embedding_cache)
    app = create_app(settings, instance_path=folder / "instance")
    with app.app_context():
        db.create_all()
        load_demo(PASSWORD)
        db.session.commit()
        existing = db.session.query(Profile).count()
        for record in synthetic_records(max(0, profiles - existing), seed=profiles):
            create_from_record(record)
        db.session.commit()
        started = time.perf_counter()
        get_engine().rebuild()
        print(f"  {profiles} profiles indexed in {time.perf_counter() - started:.1f} s", flush=True)
        get_engine().set_threads(1)
    set_torch_threads(1)
    return app


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, share))


@contextmanager
def logged_in(app: Any, email: str) -> Iterator[Any]:
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, f"login of {email} failed"
    yield client


def measure(
    stages: Stages,
    label: str,
    request: Callable[[int], Any],
    count: int,
    before: Callable[[], None] | None = None,
) -> dict[str, Any]:
    times: list[float] = []
    totals: dict[str, float] = defaultdict(float)
    for number in range(count):
        if before:
            before()
        stages.reset()
        started = time.perf_counter()
        response = request(number)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, f"{label}: {response.status_code}"
        times.append(elapsed)
        spent = dict(stages.seconds)
        encoding = spent.get("encoding", 0.0)
        totals["encoding"] += encoding
        totals["retrieval"] += max(spent.get("search", 0.0) - encoding, 0.0)
        totals["explanation"] += spent.get("explanation", 0.0)
        totals["sql"] += spent.get("sql", 0.0)
        totals["rendering"] += spent.get("rendering", 0.0)
    total = sum(times)
    totals["other"] = max(total - sum(totals.values()), 0.0)
    return {
        "label": label,
        "p50": percentile(times, 50),
        "p99": percentile(times, 99),
        "shares": {stage: totals[stage] / total for stage in STAGES},
    }


def run_size(app: Any, stages: Stages, count: int) -> list[dict[str, Any]]:
    queries = query_texts(max(count, 10))
    rows = []
    with app.app_context():
        engine = get_engine()
        sme = db.session.scalar(select(User).where(User.email == "sme@example.org"))
        profile_ids = list(db.session.scalars(select(Profile.id).order_by(Profile.id)))
        coordinator = "coordinator@example.org"
        token_client = app.test_client()
        from partnermatch.auth.tokens import create_token

        _token, secret = create_token(sme, "bench-pages")
        db.session.commit()
        # The floor: the model alone, and the engine's own search.
        engine.embedder.encode_query("warm up")
        if engine.multilingual is not None:
            engine.multilingual.encode_query("warm up")
        raw = []
        for query in queries[:count]:
            started = time.perf_counter()
            engine.embedder.encode_query(query)
            raw.append(time.perf_counter() - started)
        searched = []
        for query in queries[:count]:
            started = time.perf_counter()
            engine.search(query, None, limit=10)
            searched.append(time.perf_counter() - started)
        rows.append(
            {
                "label": "raw MiniLM query encoding",
                "p50": percentile(raw, 50),
                "p99": percentile(raw, 99),
            }
        )
        rows.append(
            {
                "label": "engine search (encoding included)",
                "p50": percentile(searched, 50),
                "p99": percentile(searched, 99),
            }
        )

    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    rows.append(
        measure(
            stages,
            "search page",
            lambda n: client.get("/search/", query_string={"q": queries[n % len(queries)]}),
            count,
        )
    )
    for limit in (20, 100):
        rows.append(
            measure(
                stages,
                f"API search, limit {limit}",
                lambda n, limit=limit: token_client.post(
                    "/api/v1/search",
                    json={"query": queries[n % len(queries)], "limit": limit},
                    headers=headers,
                ),
                count,
            )
        )
    with app.app_context():
        engine = get_engine()

        def forget() -> None:
            engine.kept.clear()

    rows.append(
        measure(
            stages,
            "profile page, first view",
            lambda n: client.get(f"/profiles/{profile_ids[n % len(profile_ids)]}"),
            count,
            forget,
        )
    )
    rows.append(
        measure(
            stages,
            "profile page, later view",
            lambda n: client.get(f"/profiles/{profile_ids[n % 5]}"),
            count,
        )
    )
    with logged_in(app, "sme@example.org") as member:
        rows.append(measure(stages, "SME home", lambda n: member.get("/"), count))
    with logged_in(app, coordinator) as staff:
        rows.append(measure(stages, "review queue", lambda n: staff.get("/review/"), count))
        rows.append(measure(stages, "dashboard", lambda n: staff.get("/dashboard/"), count))
    return rows


def print_rows(profiles: int, rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{profiles} profiles, one torch thread; "
        "ms (p50 / p99) and each stage's share of the time"
    )
    header = f"  {'page':<34}{'p50':>8}{'p99':>8}  " + "".join(f"{stage:>12}" for stage in STAGES)
    print(header)
    for row in rows:
        shares = row.get("shares")
        line = f"  {row['label']:<34}{row['p50']:>8.1f}{row['p99']:>8.1f}  "
        if shares:
            line += "".join(f"{shares[stage]:>11.0%} " for stage in STAGES)
        print(line)
    raw = rows[0]["p50"]
    search_page = next(row for row in rows if row["label"] == "search page")
    print(f"  search page p50 / raw query encoding p50: {search_page['p50'] / raw:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, nargs="+", default=[98, 10_000])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--embedding-cache", type=Path, default=None)
    args = parser.parse_args()
    stages = Stages()
    wrapped = False
    for profiles in args.profiles:
        with tempfile.TemporaryDirectory(prefix="bench-pages-") as name:
            app = build_app(Path(name), profiles, args.embedding_cache)
            instrument(app, stages, wrap_code=not wrapped)
            wrapped = True
            rows = run_size(app, stages, args.requests)
            print_rows(profiles, rows)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    print(
        "\nGoals (demo scale, quiet machine): search page p50 <= 25 ms (<= 2.5x raw encoding), "
        "p99 <= 50 ms; API search limit 100 p50 <= 30 ms; profile first view p50 <= 60 ms; "
        "10k profiles: search page p99 <= 60 ms"
    )


if __name__ == "__main__":
    main()
