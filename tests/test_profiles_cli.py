"""`profiles import` and `profiles export` on the command line."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.matching.search import search
from partnermatch.profiles.models import Profile

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def record(external_id: str, **fields) -> dict:
    return {
        "external_id": external_id,
        "kind": "expert",
        "name": f"Expert {external_id}",
        "affiliation": "academia",
        "economy": "Viet Nam",
        "sectors": ["metal"],
        "value_chain": ["r-and-d"],
        "summary": "Studies corrosion of galvanised steel in tropical coastal air.",
        **fields,
    }


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(item) + "\n" for item in records))
    return str(path)


def profile_count() -> int:
    return db.session.scalar(select(func.count(Profile.id)))


def test_import_keeps_the_good_rows_reports_the_bad_and_makes_them_searchable(runner, tmp_path):
    runner.invoke(args=["index", "rebuild"])
    path = write_jsonl(
        tmp_path / "experts.jsonl",
        [
            record("e1"),
            record("e2", summary="Designs sea-water desalination membranes for islands."),
            record("e3", economy="Atlantis"),
        ],
    )

    result = runner.invoke(args=["profiles", "import", path])

    assert result.exit_code == 0, result.output
    assert "line 3: economy: Unknown economy 'Atlantis'" in result.output
    assert "Created 2, updated 0, unchanged 0, rejected 1." in result.output
    assert "The imported profiles are searchable." in result.output
    assert profile_count() == 2
    top = search(get_engine(), "desalination of sea water", limit=1).results[0]
    assert top.profile.external_id == "e2"


def test_importing_the_same_file_again_changes_nothing(runner, tmp_path):
    path = write_jsonl(tmp_path / "experts.jsonl", [record("e1"), record("e2")])
    runner.invoke(args=["profiles", "import", path])

    again = runner.invoke(args=["profiles", "import", path])

    assert "Created 0, updated 0, unchanged 2, rejected 0." in again.output
    assert again.exit_code == 0


def test_import_fails_only_when_no_row_could_be_imported(runner, tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl", [record("e1", sectors=["alchemy"]), record("e2", kind="wizard")]
    )

    result = runner.invoke(args=["profiles", "import", path])

    assert result.exit_code == 1
    assert "rejected 2" in result.output
    assert profile_count() == 0


def test_an_import_on_a_fresh_install_builds_the_index_so_a_search_finds_the_profiles(
    runner, tmp_path
):
    path = write_jsonl(tmp_path / "experts.jsonl", [record("e1")])

    result = runner.invoke(args=["profiles", "import", path])

    assert result.exit_code == 0, result.output
    assert "run `flask --app wsgi index rebuild`" not in result.output
    assert "The imported profiles are searchable (index built)." in result.output
    found = search(get_engine(), "corrosion of galvanised steel")
    assert [r.profile.external_id for r in found.results] == ["e1"]


def test_a_file_refused_at_its_header_says_so_and_exits_1(runner, tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,kind,name,colour\ne1,sme,One,red\n")

    result = runner.invoke(args=["profiles", "import", str(path)])

    assert result.exit_code == 1
    assert "The file was refused, no row was read: line 1: colour: Unknown column" in (
        result.output
    )
    assert "rejected 0" not in result.output
    assert profile_count() == 0


def test_an_import_run_again_says_the_rows_it_finds_were_imported_before(runner, tmp_path):
    path = write_jsonl(tmp_path / "experts.jsonl", [record("e1"), record("e2")])
    runner.invoke(args=["profiles", "import", path])

    again = runner.invoke(args=["profiles", "import", path])

    assert "Created 0, updated 0, unchanged 2, rejected 0." in again.output
    assert "2 rows matched their profiles already (imported before)" in again.output
    assert "importing a file again is safe" in again.output


def test_without_a_terminal_long_commands_print_progress_lines(runner, tmp_path):
    path = write_jsonl(tmp_path / "experts.jsonl", [record(f"e{n}") for n in range(20)])

    result = runner.invoke(args=["profiles", "import", path])

    lines = [line for line in result.output.splitlines() if line.startswith("Importing profiles")]
    assert lines[0] == "Importing profiles: 0 of 20"
    assert "Importing profiles: 10 of 20 (50%)" in lines
    assert lines[-1] == "Importing profiles: 20 of 20 (done)"
    assert len(lines) == 11  # the start, each tenth up to 90%, the end


def test_an_unknown_file_type_is_refused(runner, tmp_path):
    path = tmp_path / "profiles.xlsx"
    path.write_text("not really a spreadsheet")

    result = runner.invoke(args=["profiles", "import", str(path)])

    assert result.exit_code == 2
    assert "format" in result.output


def test_export_then_import_round_trips(runner, tmp_path):
    runner.invoke(
        args=[
            "profiles",
            "import",
            write_jsonl(tmp_path / "in.jsonl", [record("e1"), record("e2")]),
        ]
    )

    result = runner.invoke(args=["profiles", "export", str(tmp_path / "out.jsonl")])

    assert result.exit_code == 0 and "Exported 2 profiles" in result.output
    exported = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [item["external_id"] for item in exported] == ["e1", "e2"]
    assert exported[0]["economy"] == "VN"
    assert (
        "Created 0, updated 0, unchanged 2"
        in runner.invoke(args=["profiles", "import", str(tmp_path / "out.jsonl")]).output
    )


def test_the_introduction_capacity_survives_export_and_import(runner, tmp_path):
    runner.invoke(
        args=[
            "profiles",
            "import",
            write_jsonl(tmp_path / "in.jsonl", [record("e1", introduction_capacity=2)]),
        ]
    )

    runner.invoke(args=["profiles", "export", str(tmp_path / "out.csv")])
    exported = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")

    assert db.session.scalar(select(Profile.introduction_capacity)) == 2
    header, row = exported.splitlines()[:2]
    assert row.split(",")[header.split(",").index("introduction_capacity")] == "2"
