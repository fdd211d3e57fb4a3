"""Failure drills: a rebuild killed half-way, a damaged index file, imports with bad rows and
a crash part-way. The app stays up, says what is wrong, and loses no committed data."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.profiles import transfer
from partnermatch.profiles.models import EvidenceItem, Profile
from tests.drill_helpers import Site, cached_vectors, kill, table_rows, top_names, wait_for
from tests.factories import make_profile

QUERY = "sand casting of copper alloys for valve bodies"
EXPECTED_TOP = "Andes Copper Foundry"
# Enough profiles that a rebuild encoding them from nothing takes several seconds.
FILLERS = 256


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache) -> Site:
    """A programme with a built index (version 1) and nothing pending: each drill copies it."""
    site = Site(tmp_path_factory.mktemp("drills") / "programme", shared_embedding_cache)
    site.root.mkdir()
    app = site.app()
    with app.app_context():
        db.create_all()
        make_profile(name=EXPECTED_TOP, economy="CL", offers="Sand casting of copper alloys.")
        make_profile(name="Busan Battery Lab", economy="KR", offers="Battery cell testing.")
        make_profile(name="Osaka Optics", economy="JP", offers="Precision lens grinding.")
        for number in range(FILLERS):
            make_profile(
                name=f"Workshop {number}",
                summary=f"Workshop {number} assembles wooden toy kit model {number * 7}.",
                offers="",
                needs="",
            )
        get_engine().rebuild()
        db.session.remove()
        db.engine.dispose()
    return site


@pytest.fixture
def site(programme: Site, tmp_path: Path) -> Iterator[Site]:
    yield programme.copy(tmp_path / "site")


def assert_serves_version(site: Site, version: int) -> None:
    """A freshly started worker finds the right partner, and every check says all is well."""
    app = site.app()
    assert top_names(app, QUERY)[0] == EXPECTED_TOP
    page = app.test_client().get("/search/", query_string={"q": QUERY})
    assert page.status_code == 200 and EXPECTED_TOP in page.get_data(as_text=True)
    health = app.test_client().get("/healthz")
    assert health.status_code == 200, health.get_json()
    assert health.get_json()["index"].startswith(f"version {version},")
    status = app.test_cli_runner().invoke(args=["index", "status"])
    assert status.exit_code == 0, status.output
    assert f"Index version:      {version} " in status.output
    assert "Stale:              no" in status.output


# --- a rebuild killed half-way ------------------------------------------------------------------


def test_a_rebuild_killed_while_encoding_leaves_the_previous_index_serving(site, tmp_path):
    # The rebuild gets an empty embedding cache of its own: it has every passage to encode,
    # and the cache file shows how far it got.
    own_cache = tmp_path / "rebuild-cache.sqlite3"
    rebuild = site.start("index", "rebuild", "--threads", "1", embedding_cache=own_cache)
    wait_for(lambda: cached_vectors(own_cache) > 0, rebuild)  # the first batch is encoded

    assert rebuild.poll() is None, "the rebuild ended before the drill could kill it"
    kill(rebuild)

    assert 0 < cached_vectors(own_cache) < FILLERS
    assert (site.current_version(), site.versions()) == ("v000001", ["v000001"])
    assert_serves_version(site, 1)
    again = site.app().test_cli_runner().invoke(args=["index", "rebuild"])
    assert again.exit_code == 0, again.output
    assert site.current_version() == "v000002"
    assert_serves_version(site, 2)


# Writes each snapshot file, then waits: the rebuild is caught inside its staging folder.
SLOW_SNAPSHOT_WRITER = """
import sys, time
import faiss
from flask.cli import main

write_index = faiss.write_index


def write_then_wait(index, path):
    write_index(index, path)
    time.sleep(120)


faiss.write_index = write_then_wait
sys.argv = ["flask", "--app", "wsgi", *sys.argv[1:]]
main()
"""


def test_a_rebuild_killed_while_writing_its_snapshot_leaves_the_previous_index_serving(site):
    rebuild = site.start("index", "rebuild", python=SLOW_SNAPSHOT_WRITER)
    wait_for(lambda: any(site.index_dir.glob(".staging-*/capability.faiss")), rebuild)

    kill(rebuild)

    staging = site.leftovers()
    assert staging and all(name.startswith(".staging-") for name in staging)
    assert (site.current_version(), site.versions()) == ("v000001", ["v000001"])
    assert_serves_version(site, 1)
    again = site.app().test_cli_runner().invoke(args=["index", "rebuild"])
    assert again.exit_code == 0, again.output
    assert (site.current_version(), site.versions()) == ("v000002", ["v000001", "v000002"])
    assert_serves_version(site, 2)


# --- a damaged index ----------------------------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(path.stat().st_size))


DAMAGE = {
    "capability index truncated": lambda v: truncate(v / "capability.faiss"),
    "needs index overwritten with garbage": lambda v: garbage(v / "needs.faiss"),
    "ids file overwritten with garbage": lambda v: garbage(v / "capability.ids.npy"),
    "manifest truncated": lambda v: truncate(v / "manifest.json"),
    "manifest overwritten with binary garbage": lambda v: garbage(v / "manifest.json"),
    "manifest valid JSON of the wrong shape": lambda v: (v / "manifest.json").write_text("{}"),
    "CURRENT names a missing snapshot": lambda v: (v.parent / "CURRENT").write_text("v000009\n"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_index_is_reported_clearly_and_never_served(site, damage):
    untouched = table_rows(site.app())
    DAMAGE[damage](site.index_dir / "v000001")
    app = site.app()  # a worker started after the damage
    client = app.test_client()

    page = client.get("/search/", query_string={"q": QUERY})
    health = client.get("/healthz")
    status = app.test_cli_runner().invoke(args=["index", "status"])

    assert page.status_code == 200
    assert "Search is unavailable right now." in page.get_data(as_text=True)
    assert EXPECTED_TOP not in page.get_data(as_text=True)
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    assert "index rebuild" in health.get_json()["index"]
    assert isinstance(status.exception, SystemExit) and status.exit_code == 1, status.output
    assert "Stale:              yes" in status.output and "index rebuild" in status.output
    assert table_rows(app) == untouched


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_index_rebuild_recovers_from_a_damaged_index_and_the_database_is_untouched(site, damage):
    untouched = table_rows(site.app(), skip=("index_journal",))
    DAMAGE[damage](site.index_dir / "v000001")

    rebuilt = site.app().test_cli_runner().invoke(args=["index", "rebuild"])

    assert rebuilt.exit_code == 0, rebuilt.output
    assert site.current_version() == "v000002"
    assert_serves_version(site, 2)
    assert table_rows(site.app(), skip=("index_journal",)) == untouched


# --- imports with bad rows, and a crash part-way ------------------------------------------------


def drill_row(number: int) -> dict:
    return {
        "external_id": f"drill-{number}",
        "kind": "sme",
        "name": f"Drill Row {number}",
        "economy": "TH",
        "sectors": ["machinery"],
        "value_chain": ["components"],
        "summary": f"Row {number}: gearbox housings for rice harvesters, batch size {number}.",
    }


LAST_GOOD = drill_row(199) | {
    "name": "Chiang Mai Titanium Printing",
    "summary": "Powder-bed fusion of titanium dental implants and surgical guides.",
}


def test_an_import_with_bad_rows_keeps_and_indexes_the_good_ones(site, tmp_path):
    lines = [json.dumps(drill_row(number)) for number in range(1, 201)]
    lines[99] = json.dumps(drill_row(100) | {"economy": "Atlantis"})  # the middle
    lines[198] = json.dumps(LAST_GOOD)
    lines[199] = lines[199][: len(lines[199]) // 2]  # the end: a line cut short
    path = tmp_path / "programme-2027.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = table_rows(site.app(), skip=("index_journal",))

    result = site.app().test_cli_runner().invoke(args=["profiles", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "rejected line 100: economy: Unknown economy 'Atlantis'" in result.output
    assert "rejected line 200: row: Not valid JSON" in result.output
    assert "Created 198, updated 0, unchanged 0, rejected 2." in result.output
    assert "The imported profiles are searchable." in result.output
    app = site.app()
    with app.app_context():
        imported = set(
            db.session.scalars(
                select(Profile.external_id).where(Profile.external_id.like("drill-%"))
            )
        )
        db.session.remove()
    assert imported == {f"drill-{n}" for n in range(1, 200)} - {"drill-100"}
    assert top_names(app, "titanium dental implant printing")[0] == LAST_GOOD["name"]
    after = table_rows(app, skip=("index_journal",))
    assert all(row in after[name] for name in before for row in before[name])  # nothing lost


def test_a_crash_part_way_through_an_import_leaves_no_half_profile(site, tmp_path, monkeypatch):
    rows = [
        drill_row(number)
        | {"evidence": [{"kind": "product", "title": f"Housing {number}", "year": 2024}]}
        for number in range(1, 21)
    ]
    path = tmp_path / "with-evidence.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    before = table_rows(site.app())
    replace_evidence = transfer._replace_evidence
    calls = []

    def crash_on_the_twelfth_row(profile, items):
        # Row 12's profile is already flushed when its evidence is written: crash right there.
        calls.append(profile.external_id)
        if len(calls) == 12:
            raise OSError("No space left on device")
        replace_evidence(profile, items)

    monkeypatch.setattr(transfer, "_replace_evidence", crash_on_the_twelfth_row)
    crashed = site.app().test_cli_runner().invoke(args=["profiles", "import", str(path)])
    monkeypatch.undo()

    assert isinstance(crashed.exception, OSError) and crashed.exit_code == 1
    app = site.app()
    with app.app_context():
        partial = db.session.scalar(
            select(func.count())
            .select_from(Profile)
            .where(Profile.external_id.like("drill-%"), ~Profile.evidence.any())
        )
        row_12 = db.session.scalar(select(Profile).where(Profile.external_id == "drill-12"))
        db.session.remove()
    assert partial == 0 and row_12 is None
    # Rows are committed in batches of 500: a crash inside the first commits nothing.
    assert table_rows(app) == before
    assert_serves_version(site, 1)

    again = site.app().test_cli_runner().invoke(args=["profiles", "import", str(path)])

    assert "Created 20, updated 0, unchanged 0, rejected 0." in again.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EvidenceItem)) == 20
        db.session.remove()


def test_an_import_killed_part_way_keeps_its_committed_batches_and_a_rerun_finishes_it(
    site, tmp_path
):
    """kill -9 in the middle of a long import: the batches committed before it stay, each
    with its journal entries, and running the same import again picks up from there."""
    rows = 4 * transfer.IMPORT_BATCH_ROWS
    # One name and text for every row: the drill is about batches and the journal, and the
    # model then encodes one passage, not thousands (it dominated the suite's time).
    same_words = {"name": "Drill Row", "summary": "Gearbox housings for rice harvesters."}
    path = tmp_path / "long.jsonl"
    path.write_text(
        "".join(json.dumps(drill_row(n) | same_words) + "\n" for n in range(1, rows + 1))
    )

    def committed() -> tuple[int, int]:
        # What another connection sees: committed profiles and the profiles the journal names.
        with sqlite3.connect(site.database) as connection:
            profiles = connection.execute(
                "SELECT count(*) FROM profiles WHERE external_id LIKE 'drill-%'"
            ).fetchone()[0]
            journal = connection.execute(
                "SELECT count(DISTINCT profile_id) FROM index_journal"
            ).fetchone()[0]
        return profiles, journal

    process = site.start("profiles", "import", str(path))
    wait_for(lambda: committed()[0] >= transfer.IMPORT_BATCH_ROWS, process, timeout=600)
    kill(process)

    kept, journalled = committed()
    assert 0 < kept < rows and kept % transfer.IMPORT_BATCH_ROWS == 0
    assert journalled == kept  # each committed profile has its journal entry

    again = site.app().test_cli_runner().invoke(args=["profiles", "import", str(path)])

    assert f"Created {rows - kept}, updated 0, unchanged {kept}, rejected 0." in again.output
    assert f"{kept} rows matched their profiles already (imported before)" in again.output
    assert committed()[0] == rows
