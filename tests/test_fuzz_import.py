"""Import files, fuzzed: good and bad rows mixed, in JSONL and CSV, with a byte-order mark, CRLF
line ends and empty lines. Every bad row is reported by line and field, every good row is kept,
importing the file again changes nothing, and an export re-imports as unchanged."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from partnermatch.extensions import db
from partnermatch.profiles.models import Profile
from partnermatch.profiles.transfer import CSV_COLUMNS, export_profiles, import_profiles
from partnermatch.reference import SECTORS, VALUE_CHAIN
from tests.conftest import make_test_app

FUZZ = settings(max_examples=50, deadline=None)
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory, shared_embedding_cache) -> Iterator[Flask]:
    """One app for the module; each example empties its database first (see fresh())."""
    app = make_test_app(
        tmp_path_factory.mktemp("fuzz-import"), EMBEDDING_CACHE=str(shared_embedding_cache)
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def fresh() -> None:
    db.session.remove()
    db.drop_all()
    db.create_all()


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table."""
    db.session.expire_all()
    return {
        table.name: [
            tuple(row)
            for row in db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        ]
        for table in db.metadata.sorted_tables
    }


# --- rows ---------------------------------------------------------------------------------------

SECTOR_CODES = [term.code for term in SECTORS]
POSITION_CODES = [term.code for term in VALUE_CHAIN]
ECONOMIES = [("Viet Nam", "VN"), ("vn", "VN"), ("Chinese Taipei", "TW"), ("japan", "JP")]
ECONOMIES += [("  the philippines ", "PH"), ("MX", "MX"), ("Germany", "DE")]
LANGUAGES = [("en", "en"), ("Thai", "th"), ("zh", "zh"), ("Spanish", "es")]
# Any text but surrogates and NUL (refused: a fault below): other controls, RTL marks, U+2028,
# quotes, commas, markup.
ANY_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60
) | st.sampled_from(['"><pm-xss>', "a,b;c", 'say "hi"', "\r\n"])
WORDS = st.text(st.characters(categories=("L", "Nd")), min_size=1, max_size=12)
KEYWORDS = st.lists(
    st.lists(WORDS, min_size=1, max_size=2).map(" ".join), max_size=5, unique_by=str.lower
)


def stripped(limit: int, *, required: bool = False) -> st.SearchStrategy[str]:
    """Any text whose trimmed form is within the limit (and not empty, when required)."""
    return ANY_TEXT.filter(
        lambda text: len(text.strip()) <= limit and (bool(text.strip()) or not required)
    )


NAMES = stripped(200, required=True)
CITIES = stripped(120)
LONG_TEXTS = stripped(5000) | st.just("s" * 5000)
EVIDENCE = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["product", "Publication", "patent"]),
            "title": stripped(300, required=True),
            "text": stripped(20000),
            "year": st.none() | st.integers(1900, 2100),
            "url": st.sampled_from(["", "https://example.org/paper"]),
        }
    ),
    max_size=2,
)


@dataclass
class Row:
    """One line of an import file: good (with the profile it should give) or bad (and why)."""

    record: dict[str, Any] | None = None  # the row as a JSONL object / CSV cells
    raw: str | None = None  # a JSONL line or CSV record written as is
    field: str | None = None  # for a bad row: the field the report must name
    expected: dict[str, Any] | None = None  # for a good row: what the profile must hold
    blank: bool = False


@st.composite
def good_row(draw, fmt: str) -> Row:
    kind = draw(st.sampled_from(["sme", "expert"]))
    economy_given, economy = draw(st.sampled_from(ECONOMIES))
    # Sectors and positions may be missing: the profile is kept and marked incomplete.
    sectors = draw(st.lists(st.sampled_from(SECTOR_CODES), max_size=3, unique=True))
    positions = draw(st.lists(st.sampled_from(POSITION_CODES), unique=True))
    languages = draw(st.lists(st.sampled_from(LANGUAGES), max_size=2, unique=True))
    keywords = draw(KEYWORDS)
    organisation = draw(st.none() | st.just(f"Organisation {next(_numbers)}"))
    capacity = draw(st.none() | st.integers(0, 100))
    affiliation = "industry" if kind == "sme" else draw(st.sampled_from(["academia", "research"]))
    texts = {
        "name": draw(NAMES),
        "city": draw(CITIES),
        "summary": draw(LONG_TEXTS),
        "offers": draw(LONG_TEXTS),
        "needs": draw(LONG_TEXTS),
    }
    email = draw(st.sampled_from(["", f"contact{next(_numbers)}@example.org"]))
    evidence = draw(EVIDENCE) if fmt == "jsonl" else []
    record = {
        "external_id": f"ext-{next(_numbers)}",
        "kind": draw(st.sampled_from([kind, kind.upper()])),
        **texts,
        "economy": economy_given,
        "affiliation": affiliation,
        "sectors": sectors,
        "value_chain": positions,
        "keywords": keywords,
        "languages": [given for given, _code in languages],
        "website": draw(st.sampled_from(["", "https://example.org/", "HTTP://Example.org"])),
        draw(st.sampled_from(["email", "contact_email"])): email,
        "introduction_capacity": capacity,
        "organisation": {"name": organisation, "kind": "other"} if organisation else None,
    }
    if fmt == "jsonl":
        record["evidence"] = evidence
    expected = {
        "kind": kind,
        **{name: value.strip() for name, value in texts.items()},
        "economy": economy,
        "affiliation": affiliation,
        "sectors": [code for code in SECTOR_CODES if code in sectors],
        "value_chain": [code for code in POSITION_CODES if code in positions],
        "keywords": keywords,
        "languages": [code for _given, code in languages],
        "website": record["website"],
        "contact_email": email,
        "introduction_capacity": capacity,
        "organisation": organisation,
        # A year or a url may be None: repr orders any mix.
        "evidence": sorted(
            (
                (
                    item["kind"].lower(),
                    item["title"].strip(),
                    item["text"].strip(),
                    item["year"],
                    item["url"],
                )
                for item in evidence
            ),
            key=repr,
        ),
    }
    return Row(record=record, expected=expected)


# (field the report names, change to a good row): each makes the row bad for one reason.
JSONL_FAULTS = [
    ("summary", {"summary": "Die casting\x00 of housings."}),
    ("external_id", {"external_id": None}),
    ("external_id", {"external_id": "   "}),
    ("external_id", {"external_id": "x" * 101}),
    ("external_id", {"external_id": 17}),
    ("kind", {"kind": None}),
    ("kind", {"kind": "robot"}),
    ("name", {"name": None}),
    ("name", {"name": 5}),
    ("name", {"name": "n" * 201}),
    ("economy", {"economy": "Atlantis"}),
    ("economy", {"economy": None}),
    ("sectors", {"sectors": ["unobtainium"]}),
    ("sectors", {"sectors": "metal"}),
    ("value_chain", {"value_chain": ["warp"]}),
    ("value_chain", {"value_chain": [1, 2]}),
    ("introduction_capacity", {"introduction_capacity": "many"}),
    ("introduction_capacity", {"introduction_capacity": 101}),
    ("introduction_capacity", {"introduction_capacity": True}),
    ("introduction_capacity", {"introduction_capacity": 2.5}),
    # Numbers that pass str.isdigit() but not int(), and one past 2^63.
    ("introduction_capacity", {"introduction_capacity": "--5"}),
    ("introduction_capacity", {"introduction_capacity": "²"}),
    ("introduction_capacity", {"introduction_capacity": "⁵"}),
    ("introduction_capacity", {"introduction_capacity": "9" * 5000}),
    ("introduction_capacity", {"introduction_capacity": 2**63}),
    ("evidence[0].year", {"evidence": [{"kind": "product", "title": "t", "year": 2**63}]}),
    # Lone surrogates (a JSON escape, or a byte that is not UTF-8) in any string.
    ("name", {"name": "Lone \ud800 half"}),
    ("city", {"city": "Caf\udce9"}),
    ("external_id", {"external_id": "ext-\udfff"}),
    ("keywords[0]", {"keywords": ["\ud83d"]}),
    ("organisation.name", {"organisation": {"name": "\udc00 Ltd"}}),
    ("evidence[0].title", {"evidence": [{"kind": "product", "title": "\ud800"}]}),
    ("summary", {"summary": "s" * 5001}),
    ("city", {"city": ["Hanoi"]}),
    ("website", {"website": "ftp://example.org"}),
    ("email", {"email": "not an email"}),
    ("keywords", {"keywords": [f"k{number}" for number in range(21)]}),
    ("languages", {"languages": ["Klingon"]}),
    ("organisation", {"organisation": "Acme"}),
    ("organisation.name", {"organisation": {"kind": "sme"}}),
    ("organisation.colour", {"organisation": {"name": "Acme", "colour": "red"}}),
    ("organisation.kind", {"organisation": {"name": "Acme", "kind": "guild"}}),
    ("colour", {"colour": "red"}),
    ("evidence", {"evidence": {"title": "x"}}),
    ("evidence[0]", {"evidence": [5]}),
    ("evidence[0].title", {"evidence": [{"kind": "product", "title": ""}]}),
    ("evidence[0].title", {"evidence": [{"kind": "product", "title": "t" * 301}]}),
    ("evidence[1].kind", {"evidence": [{"kind": "product", "title": "t"}, {"title": "u"}]}),
    ("evidence[0].year", {"evidence": [{"kind": "product", "title": "t", "year": "twenty"}]}),
    ("evidence[0].url", {"evidence": [{"kind": "product", "title": "t", "url": "file:///x"}]}),
]
CSV_FAULTS = [
    ("external_id", {"external_id": ""}),
    ("external_id", {"external_id": "x" * 101}),
    ("kind", {"kind": ""}),
    ("kind", {"kind": "robot"}),
    ("name", {"name": " "}),
    ("name", {"name": "n" * 201}),
    ("economy", {"economy": "Atlantis"}),
    ("economy", {"economy": ""}),
    ("sectors", {"sectors": "unobtainium"}),
    ("introduction_capacity", {"introduction_capacity": "--5"}),
    ("introduction_capacity", {"introduction_capacity": "²"}),
    ("introduction_capacity", {"introduction_capacity": "⁵"}),
    ("introduction_capacity", {"introduction_capacity": "9" * 5000}),
    ("name", {"name": "Caf\udce9"}),  # written as the byte 0xE9: not UTF-8
    # Over the csv module's field limit (128 KiB): refused by the field's own length rule.
    ("summary", {"summary": "s" * 140_000}),
    ("value_chain", {"value_chain": "warp;design"}),
    ("introduction_capacity", {"introduction_capacity": "many"}),
    ("introduction_capacity", {"introduction_capacity": "-1"}),
    ("introduction_capacity", {"introduction_capacity": "101"}),
    ("summary", {"summary": "s" * 5001}),
    ("website", {"website": "ftp://example.org"}),
    ("email", {"email": "not an email"}),
    ("languages", {"languages": "Klingon"}),
    ("organisation_name", {"organisation_name": "", "organisation_kind": "sme"}),
    ("organisation_kind", {"organisation_name": "Acme", "organisation_kind": "guild"}),
]
BROKEN_JSON = [
    '{"external_id": "broken", ',
    "[1, 2]",
    '"a string"',
    "{'single': 1}",
    "nul\x00l",
    "[" * 1000 + "]" * 1000,  # nested past Python's recursion limit
    '{"a": ' * 40 + "1" + "}" * 40,
    '{"external_id": "nan", "introduction_capacity": NaN}',
    '{"\\ud800": "a lone surrogate as a field name"}',
]


@st.composite
def bad_row(draw, fmt: str, earlier_ids: list[str]) -> Row:
    kind = draw(st.sampled_from(["fault", "fault", "fault", "broken", "duplicate"]))
    if kind == "duplicate" and earlier_ids:
        row = draw(good_row(fmt))
        row.record["external_id"] = draw(st.sampled_from(earlier_ids))
        return Row(record=row.record, field="external_id")
    if kind == "broken":
        if fmt == "jsonl":
            return Row(raw=draw(st.sampled_from(BROKEN_JSON)), field="row")
        cells = draw(st.sampled_from([2, len(CSV_COLUMNS) + 2]))
        return Row(raw=",".join(["x"] * cells), field="row")
    field, change = draw(st.sampled_from(JSONL_FAULTS if fmt == "jsonl" else CSV_FAULTS))
    row = draw(good_row(fmt))
    if fmt == "jsonl" and field == "email":
        row.record.pop("contact_email", None)
    record = {**row.record, **change}
    if fmt == "jsonl":
        record = {name: value for name, value in record.items() if value is not None}
    return Row(record=record, field=field)


@st.composite
def import_file(draw, fmt: str) -> tuple[bytes, list[Row]]:
    """A file of good, bad and blank rows, with its rows in file order."""
    rows: list[Row] = []
    for _ in range(draw(st.integers(1, 7))):
        earlier = [row.record["external_id"] for row in rows if row.expected]
        choice = draw(st.sampled_from(["good", "good", "bad", "blank"]))
        if choice == "good":
            rows.append(draw(good_row(fmt)))
        elif choice == "bad":
            rows.append(draw(bad_row(fmt, earlier)))
        else:
            rows.append(Row(blank=True, raw=draw(st.sampled_from(["", "   ", "\t"]))))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.booleans())
    if fmt == "jsonl":
        lines = [
            row.raw
            if row.raw is not None
            else json.dumps(row.record, ensure_ascii=draw(st.booleans()))
            for row in rows
        ]
    else:
        columns = draw(st.permutations(CSV_COLUMNS))
        header = [
            draw(st.sampled_from([name, name.upper(), f" {name} "])) if name != "email" else name
            for name in columns
        ]
        lines = [",".join(header)] + [csv_line(row, columns) for row in rows]
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return (b"\xef\xbb\xbf" if bom else b"") + raw_bytes(text), rows


def raw_bytes(text: str) -> bytes:
    """Encode as UTF-8, writing lone surrogates as bytes that are not UTF-8: U+DC80-U+DCFF as
    the byte they stand for (0x80-0xFF), any other as its three surrogate bytes."""
    return b"".join(
        part.encode(
            "utf-8", "surrogateescape" if "\udc80" <= part[:1] <= "\udcff" else "surrogatepass"
        )
        for part in re.split("([\ud800-\udfff])", text)
    )


def csv_line(row: Row, columns: list[str]) -> str:
    if row.raw is not None:
        return "" if row.blank else row.raw
    record = row.record
    organisation = record.get("organisation") or {}
    cells = {
        **{name: value for name, value in record.items() if name in CSV_COLUMNS},
        "email": record.get("email", record.get("contact_email", "")),
        **{
            f"organisation_{name}": organisation.get(name, "")
            for name in ("name", "kind", "economy", "website")
        },
    }
    for name in ("organisation_name", "organisation_kind"):
        if name in record:
            cells[name] = record[name]
    for name in ("sectors", "value_chain", "keywords", "languages"):
        if isinstance(cells.get(name), list):
            cells[name] = ";".join(cells[name])
    capacity = cells.get("introduction_capacity")
    cells["introduction_capacity"] = "" if capacity is None else str(capacity)
    buffer = io.StringIO()
    # With CR and LF in the line terminator, the writer quotes any cell holding either.
    csv.writer(buffer, lineterminator="\r\n").writerow(
        ["" if cells.get(name) is None else cells[name] for name in columns]
    )
    return buffer.getvalue().removesuffix("\r\n")


def line_numbers(rows: list[Row], fmt: str) -> list[int]:
    """Each row's number in the report: its line (JSONL), its record after the header (CSV)."""
    first = 1 if fmt == "jsonl" else 2
    return list(range(first, first + len(rows)))


def stored(external_id: str) -> dict[str, Any] | None:
    profile = db.session.scalar(select(Profile).where(Profile.external_id == external_id))
    if profile is None:
        return None
    return {
        "kind": profile.kind.value,
        "name": profile.name,
        "city": profile.city,
        "summary": profile.summary,
        "offers": profile.offers,
        "needs": profile.needs,
        "economy": profile.economy,
        "affiliation": profile.affiliation.value,
        "sectors": profile.sectors,
        "value_chain": profile.value_chain,
        "keywords": list(profile.keywords),
        "languages": list(profile.languages),
        "website": profile.website,
        "contact_email": profile.contact_email,
        "introduction_capacity": profile.introduction_capacity,
        "organisation": profile.organisation.name if profile.organisation else None,
        "evidence": sorted(
            ((i.kind.value, i.title, i.text, i.year, i.url) for i in profile.evidence), key=repr
        ),
    }


def check_import(content: bytes, rows: list[Row], fmt: str) -> None:
    report = import_profiles(io.BytesIO(content), fmt)

    numbers = line_numbers(rows, fmt)
    bad = {number: row.field for number, row in zip(numbers, rows, strict=True) if row.field}
    reported = {error.line: error.field for error in report.errors}
    assert reported == bad, [str(error) for error in report.errors]
    assert all(error.message for error in report.errors)
    good = [row for row in rows if row.expected]
    assert (report.created, report.updated, report.rejected) == (len(good), 0, len(bad))
    for row in good:
        assert stored(row.record["external_id"]) == row.expected
    db.session.commit()


@FUZZ
@given(data=st.data())
def test_a_jsonl_file_keeps_every_good_row_and_reports_every_bad_one(empty, data):
    fresh()
    content, rows = data.draw(import_file("jsonl"))
    check_import(content, rows, "jsonl")


@FUZZ
@given(data=st.data())
def test_a_csv_file_keeps_every_good_row_and_reports_every_bad_one(empty, data):
    fresh()
    content, rows = data.draw(import_file("csv"))
    check_import(content, rows, "csv")


@settings(max_examples=30, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["jsonl", "csv"]))
def test_importing_a_file_again_changes_nothing_and_its_export_reimports_unchanged(
    empty, tmp_path_factory, data, fmt
):
    fresh()
    content, _rows = data.draw(import_file(fmt))
    first = import_profiles(io.BytesIO(content), fmt)
    db.session.commit()
    after_first = snapshot()

    again = import_profiles(io.BytesIO(content), fmt)
    db.session.commit()

    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert [str(error) for error in again.errors] == [str(error) for error in first.errors]
    assert snapshot() == after_first
    folder = tmp_path_factory.mktemp("export")
    for suffix in ("jsonl", "csv"):
        exported = export_profiles(folder / f"all.{suffix}")
        report = import_profiles(folder / f"all.{suffix}")
        db.session.commit()
        assert (report.created, report.updated, report.rejected) == (0, 0, 0), report.errors
        assert report.unchanged == exported == first.created
        assert snapshot() == after_first


@settings(max_examples=15, deadline=None)
@given(data=st.data(), fmt=st.sampled_from(["jsonl", "csv"]))
def test_the_import_command_reports_each_bad_row_and_fails_only_when_nothing_was_kept(
    empty, tmp_path_factory, data, fmt
):
    fresh()
    content, rows = data.draw(import_file(fmt))
    path: Path = tmp_path_factory.mktemp("cli") / f"profiles.{fmt}"
    path.write_bytes(content)

    result = empty.test_cli_runner().invoke(args=["profiles", "import", str(path)])

    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    numbers = line_numbers(rows, fmt)
    for number, row in zip(numbers, rows, strict=True):
        if row.field:
            assert f"rejected line {number}: {row.field}: " in result.output
    kept = sum(1 for row in rows if row.expected)
    assert f"Created {kept}, updated 0, unchanged 0, rejected " in result.output
    assert result.exit_code == (1 if kept == 0 and any(row.field for row in rows) else 0)


def test_a_lone_carriage_return_survives_the_csv_export(empty, tmp_path_factory):
    fresh()
    record = {
        "external_id": "cr-1",
        "kind": "sme",
        "name": "Old Mac Lines",
        "economy": "JP",
        "sectors": ["metal"],
        "value_chain": ["design"],
        "summary": "First line\rsecond line as classic Mac OS wrote them",
    }
    import_profiles(io.BytesIO(json.dumps(record).encode()), "jsonl")
    db.session.commit()
    path = tmp_path_factory.mktemp("cr") / "all.csv"
    export_profiles(path)

    report = import_profiles(path)

    assert [str(error) for error in report.errors] == []
    assert report.unchanged == 1
