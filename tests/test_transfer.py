"""Bulk import and export of profiles: upsert by external id, row errors, lossless round trips."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from partnermatch.auth.models import Role
from partnermatch.demo import DEMO_DIR
from partnermatch.errors import ValidationError
from partnermatch.extensions import db as database
from partnermatch.matching import journal
from partnermatch.profiles import services
from partnermatch.profiles.models import EvidenceItem, Organisation, Profile
from partnermatch.profiles.services import OrganisationInput
from partnermatch.profiles.transfer import (
    CSV_COLUMNS,
    count_rows,
    export_profiles,
    import_profiles,
)
from tests.conftest import make_test_app
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def sme_record(**fields: Any) -> dict[str, Any]:
    record = {
        "external_id": "sme-vn-saigon-parts",
        "kind": "sme",
        "name": "Saigon Precision Parts",
        "organisation": {
            "name": "Saigon Precision Parts Co.",
            "kind": "sme",
            "economy": "Viet Nam",
            "website": "",
        },
        "affiliation": "industry",
        "economy": "viet nam",
        "city": "Ho Chi Minh City",
        "sectors": ["GREEN-VEHICLES", "metal"],
        "value_chain": ["components"],
        "summary": "CNC machining of e-scooter hubs.",
        "offers": "Five-axis machining.",
        "needs": "Battery pack design partners.",
        "keywords": ["cnc", "e-scooter  hubs"],
        "languages": ["vi", "English"],
        "website": "https://saigon-parts.example",
        "email": "sales@saigon-parts.example",
        "evidence": [
            {
                "kind": "product",
                "title": "Hub for 3 kW e-scooters",
                "text": "Machined hub, 40,000 a year.",
                "year": 2022,
                "url": "",
            },
            {
                "kind": "project",
                "title": "Export pilot to Thailand",
                "text": "",
                "year": None,
                "url": "https://saigon-parts.example/pilot",
            },
        ],
    }
    record.update(fields)
    return record


def expert_record(**fields: Any) -> dict[str, Any]:
    return sme_record(
        **{
            "external_id": "expert-jp-topology",
            "kind": "expert",
            "name": "Dr. Aiko Mori",
            "organisation": {"name": "Kansai Institute of Technology", "kind": "university"},
            "affiliation": "academia",
            "economy": "JP",
            "city": "Osaka",
            "sectors": ["machinery"],
            "value_chain": ["r-and-d", "design"],
            "languages": ["ja", "en"],
            "email": "mori@kit.example",
            "evidence": [{"kind": "publication", "title": "Topology optimisation for die casting"}],
            **fields,
        }
    )


def write_jsonl(path: Path, *lines: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def csv_text(header: list[str], *rows: list[str]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows)
    return stream.getvalue()


def write_csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    path.write_text(csv_text(header, *rows), encoding="utf-8")
    return path


def profile_count() -> int:
    return database.session.scalar(select(func.count(Profile.id)))


def profile_by_external_id(external_id: str) -> Profile:
    return database.session.scalar(select(Profile).where(Profile.external_id == external_id))


def errors_of(report) -> list[tuple[int, str]]:
    return [(error.line, error.field) for error in report.errors]


# --- import --------------------------------------------------------------------------------


def test_jsonl_import_creates_unowned_profiles_with_normalised_fields_and_evidence(db, tmp_path):
    path = write_jsonl(tmp_path / "profiles.jsonl", sme_record(), expert_record())

    report = import_profiles(path)
    db.session.commit()

    assert (report.created, report.updated, report.unchanged, report.rejected) == (2, 0, 0, 0)
    assert report.imported == 2
    assert report.errors == []
    sme = profile_by_external_id("sme-vn-saigon-parts")
    assert sme.owner is None
    assert sme.kind.value == "sme"
    assert sme.economy == "VN"
    assert sme.sectors == ["metal", "green-vehicles"]
    assert sme.keywords == ["cnc", "e-scooter hubs"]
    assert sme.languages == ["vi", "en"]
    assert sme.contact_email == "sales@saigon-parts.example"
    assert (sme.organisation.name, sme.organisation.economy) == ("Saigon Precision Parts Co.", "VN")
    assert [(item.kind.value, item.title, item.year) for item in sme.evidence] == [
        ("product", "Hub for 3 kW e-scooters", 2022),
        ("project", "Export pilot to Thailand", None),
    ]
    expert = profile_by_external_id("expert-jp-topology")
    assert expert.affiliation.value == "academia"
    assert expert.organisation.kind.value == "university"
    assert expert.organisation.economy == "JP"


def test_the_demo_files_import_with_contact_email_as_an_alias(db):
    path = DEMO_DIR / "profiles-b.jsonl"
    first = json.loads(path.read_text(encoding="utf-8").split("\n", 1)[0])

    report = import_profiles(path)

    assert report.errors == []
    assert report.created == len(path.read_text(encoding="utf-8").splitlines())
    profile = profile_by_external_id(first["external_id"])
    assert profile.contact_email == first["contact_email"]
    assert len(profile.evidence) == len(first["evidence"])


def test_csv_import_splits_lists_on_semicolons_and_accepts_a_byte_order_mark(db, tmp_path):
    text = csv_text(
        [
            "external_id",
            "kind",
            "name",
            "organisation_name",
            "organisation_kind",
            "economy",
            "sectors",
            "value_chain",
            "keywords",
            "languages",
            "summary",
            "contact_email",
        ],
        [
            "sme-th-bangkok-cells",
            "SME",
            "Bangkok Cell Works",
            "Bangkok Cell Works Ltd.",
            "sme",
            "Thailand",
            "energy; green-vehicles",
            "components;integration",
            "battery packs; e-scooter;",
            "th; en",
            "Packs for scooters.\nAnd for tuk-tuks.",
            "info@cells.example",
        ],
    )
    path = tmp_path / "profiles.csv"
    path.write_bytes(text.encode("utf-8-sig"))

    report = import_profiles(path)

    assert (report.created, report.rejected) == (1, 0)
    profile = profile_by_external_id("sme-th-bangkok-cells")
    assert profile.economy == "TH"
    assert profile.sectors == ["green-vehicles", "energy"]
    assert profile.value_chain == ["components", "integration"]
    assert profile.keywords == ["battery packs", "e-scooter"]
    assert profile.languages == ["th", "en"]
    assert profile.summary == "Packs for scooters.\nAnd for tuk-tuks."
    assert profile.contact_email == "info@cells.example"
    assert profile.organisation.name == "Bangkok Cell Works Ltd."
    assert profile.evidence == []


def test_a_stream_needs_its_format_named(db):
    with pytest.raises(ValidationError) as raised:
        import_profiles(io.StringIO(json.dumps(sme_record())))

    assert raised.value.field == "format"
    report = import_profiles(io.StringIO(json.dumps(sme_record())), "jsonl")
    assert report.created == 1


def test_a_row_with_a_known_external_id_replaces_that_profiles_fields_and_evidence(db, tmp_path):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, name="Old name", evidence=3)
    profile.external_id = "sme-vn-saigon-parts"
    db.session.commit()
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        sme_record(
            name="Saigon Precision Parts JSC",
            economy="VN",
            sectors=["metal"],
            evidence=[{"kind": "patent", "title": "Hub clamping jig", "year": 2023}],
        ),
    )

    report = import_profiles(path)
    db.session.commit()
    db.session.expire_all()

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    assert profile_count() == 1
    updated = db.session.get(Profile, profile.id)
    assert updated.owner_id == owner.id
    assert updated.name == "Saigon Precision Parts JSC"
    assert updated.economy == "VN"
    assert updated.sectors == ["metal"]
    assert updated.organisation.name == "Saigon Precision Parts Co."
    assert [item.title for item in updated.evidence] == ["Hub clamping jig"]
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 1


def test_a_csv_row_updates_the_fields_but_keeps_the_evidence(db, tmp_path):
    profile = make_profile(name="Old name", evidence=2)
    profile.external_id = "sme-1"
    db.session.commit()
    path = tmp_path / "profiles.csv"
    path.write_text(
        csv_text(
            ["external_id", "kind", "name", "economy", "sectors", "value_chain"],
            ["sme-1", "sme", "New name", "TW", "metal", "processing"],
        ),
        encoding="utf-8",
    )

    report = import_profiles(path)
    db.session.commit()
    db.session.expire_all()

    assert report.updated == 1
    updated = db.session.get(Profile, profile.id)
    assert updated.name == "New name"
    assert updated.summary == ""
    assert updated.organisation is None
    assert [item.title for item in updated.evidence] == ["Paper 1", "Paper 2"]


def test_importing_the_same_file_again_changes_nothing(db, tmp_path):
    # Unnormalised values (names, case, order) must still compare equal to what was stored.
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        sme_record(
            organisation={"name": "SAIGON PRECISION PARTS CO.", "kind": "company"},
            evidence=list(reversed(sme_record()["evidence"])),
        ),
        expert_record(),
    )
    first = import_profiles(path)
    db.session.commit()
    stamps = dict(db.session.execute(select(Profile.id, Profile.updated_at)).all())
    evidence_ids = set(db.session.scalars(select(EvidenceItem.id)))
    journal_seq = journal.latest_seq()

    again = import_profiles(path)

    assert first.created == 2
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 0)
    assert not (db.session.new or db.session.dirty or db.session.deleted)
    db.session.commit()
    db.session.expire_all()
    assert dict(db.session.execute(select(Profile.id, Profile.updated_at)).all()) == stamps
    assert set(db.session.scalars(select(EvidenceItem.id))) == evidence_ids
    assert journal.latest_seq() == journal_seq
    assert db.session.scalar(select(func.count(Organisation.id))) == 2


def test_bad_rows_are_reported_by_line_and_field_while_the_good_rows_are_kept(db, tmp_path):
    nameless = sme_record(external_id="sme-nameless")
    del nameless["name"]
    bad_year = expert_record(
        external_id="expert-bad-year",
        evidence=[
            {"kind": "publication", "title": "Fine", "year": 2020},
            {"kind": "publication", "title": "Too old", "year": 1850},
        ],
    )
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        sme_record(external_id="good-1"),
        sme_record(external_id="sme-atlantis", economy="Atlantis"),
        expert_record(external_id="good-2"),
        sme_record(external_id="sme-bad-sector", sectors=["metal", "spaceships"]),
        nameless,
        '{"external_id": "broken", "kind": "sme",',
        sme_record(external_id="sme-wrong-kind", kind="partner"),
        "",
        sme_record(external_id="good-3", organisation=None),
        bad_year,
    )

    report = import_profiles(path)

    assert errors_of(report) == [
        (2, "economy"),
        (4, "sectors"),
        (5, "name"),
        (6, "row"),
        (7, "kind"),
        (10, "evidence[1].year"),
    ]
    assert (report.created, report.rejected, report.rows) == (3, 6, 9)
    assert report.errors[0].external_id == "sme-atlantis"
    assert "Atlantis" in report.errors[0].message
    assert "spaceships" in report.errors[1].message
    assert report.errors[3].external_id is None
    assert report.errors[3].message.startswith("Not valid JSON")
    assert str(report.errors[5]) == f"line 10: evidence[1].year: {report.errors[5].message}"
    assert sorted(db.session.scalars(select(Profile.external_id))) == [
        "good-1",
        "good-2",
        "good-3",
    ]


def test_bad_csv_rows_are_numbered_as_a_spreadsheet_numbers_them(db, tmp_path):
    header = ["external_id", "kind", "name", "economy", "sectors", "value_chain", "summary"]
    path = tmp_path / "profiles.csv"
    path.write_text(
        csv_text(
            header,
            ["good-1", "sme", "One", "TW", "metal", "processing", "Two lines\nof summary."],
            ["bad-economy", "sme", "Two", "Narnia", "metal", "processing", ""],
            ["good-2", "expert", "Three", "JP", "machinery", "r-and-d", ""],
            ["short-row", "sme", "Four"],
            ["bad-value-chain", "sme", "Five", "KR", "metal", "mining", ""],
        ),
        encoding="utf-8",
    )

    report = import_profiles(path)

    assert errors_of(report) == [(3, "economy"), (5, "row"), (6, "value_chain")]
    assert report.errors[1].message == "This row has 3 values; the header names 7 columns."
    assert report.created == 2


def test_a_rejected_row_leaves_no_profile_organisation_or_evidence_behind(db, tmp_path):
    record = sme_record(
        organisation={"name": "Never Written Ltd.", "kind": "sme"},
        evidence=[
            {"kind": "product", "title": "Fine", "year": 2021},
            {"kind": "product", "title": "Bad year", "year": "last year"},
        ],
    )
    path = write_jsonl(tmp_path / "profiles.jsonl", record)

    report = import_profiles(path)
    db.session.commit()

    assert errors_of(report) == [(1, "evidence[1].year")]
    assert report.errors[0].external_id == "sme-vn-saigon-parts"
    assert profile_count() == 0
    assert db.session.scalar(select(func.count(Organisation.id))) == 0
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 0


def test_a_rejected_update_leaves_the_profile_as_it_was(db, tmp_path):
    import_profiles(write_jsonl(tmp_path / "first.jsonl", sme_record()))
    db.session.commit()
    bad = sme_record(
        name="Renamed",
        organisation={"name": "Another Org", "kind": "sme"},
        evidence=[{"kind": "product", "title": "New"}, {"kind": "rumour", "title": "Bad kind"}],
    )

    report = import_profiles(write_jsonl(tmp_path / "second.jsonl", bad))
    db.session.commit()
    db.session.expire_all()

    assert errors_of(report) == [(1, "evidence[1].kind")]
    profile = profile_by_external_id("sme-vn-saigon-parts")
    assert profile.name == "Saigon Precision Parts"
    assert profile.organisation.name == "Saigon Precision Parts Co."
    assert [item.title for item in profile.evidence] == [
        "Hub for 3 kW e-scooters",
        "Export pilot to Thailand",
    ]
    assert db.session.scalar(select(func.count(Organisation.id))) == 1


def test_rows_without_an_external_id_or_repeating_one_are_rejected(db, tmp_path):
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        sme_record(external_id=""),
        expert_record(),
        expert_record(name="A second Dr. Mori"),
    )

    report = import_profiles(path)

    assert errors_of(report) == [(1, "external_id"), (3, "external_id")]
    assert "importing the file again" in report.errors[0].message
    assert "already appears on line 2" in report.errors[1].message
    assert profile_by_external_id("expert-jp-topology").name == "Dr. Aiko Mori"


def test_an_import_cannot_change_a_profiles_kind_or_use_unknown_fields(db, tmp_path):
    profile = make_profile(kind="sme")
    profile.external_id = "sme-1"
    db.session.commit()
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        expert_record(external_id="sme-1"),
        expert_record(external_id="expert-2", sector=["metal"]),
        expert_record(external_id="expert-3", organisation={"name": "X", "country": "JP"}),
    )

    report = import_profiles(path)

    assert errors_of(report) == [(1, "kind"), (2, "sector"), (3, "organisation.country")]
    assert "cannot change" in report.errors[0].message
    assert [error.external_id for error in report.errors] == ["sme-1", "expert-2", "expert-3"]
    assert db.session.get(Profile, profile.id).kind.value == "sme"


def test_an_unknown_csv_column_rejects_the_whole_file(db, tmp_path):
    path = write_csv(
        tmp_path / "profiles.csv",
        ["external_id", "kind", "name", "economy", "sector", "value_chain"],
        ["good-1", "sme", "One", "TW", "metal", "processing"],
    )

    report = import_profiles(path)

    assert report.file_rejected
    assert errors_of(report) == [(1, "sector")]
    assert report.errors[0].message.startswith("Unknown column 'sector': use external_id, kind")
    assert report.rows == 0
    assert profile_count() == 0


def test_a_missing_required_csv_column_rejects_the_whole_file(db, tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text(
        csv_text(["external_id", "kind", "name"], ["good-1", "sme", "One"]), encoding="utf-8"
    )

    report = import_profiles(path)

    assert report.file_rejected
    assert [(error.field, error.message) for error in report.errors] == [
        ("header", "Missing column(s): economy.")
    ]
    assert profile_count() == 0


def test_a_row_that_is_not_utf8_is_rejected_and_the_others_are_kept(db, tmp_path):
    path = tmp_path / "profiles.jsonl"
    latin1 = json.dumps(expert_record(city="Café"), ensure_ascii=False).encode("latin-1")
    path.write_bytes(json.dumps(sme_record()).encode() + b"\n" + latin1 + b"\n")

    report = import_profiles(path)

    assert not report.file_rejected
    assert errors_of(report) == [(2, "city")]
    assert "not UTF-8" in report.errors[0].message
    assert [profile.external_id for profile in database.session.scalars(select(Profile))] == [
        "sme-vn-saigon-parts"
    ]


def test_lone_surrogates_reject_their_row_naming_the_field(db, tmp_path):
    path = tmp_path / "profiles.jsonl"
    path.write_text(
        json.dumps(sme_record(external_id="good"))
        + "\n"
        + json.dumps(sme_record(external_id="odd-1", name="Lone \ud800 half"))
        + "\n"
        + json.dumps(
            expert_record(external_id="odd-2", evidence=[{"kind": "patent", "title": "\udfff"}])
        )
        + "\n"
        + '{"external_id": "odd-3", "\\ud800": 1}\n',
        encoding="utf-8",
    )

    report = import_profiles(path)

    assert errors_of(report) == [(2, "name"), (3, "evidence[0].title"), (4, "row")]
    assert "U+D800" in report.errors[0].message
    assert (report.created, report.rejected) == (1, 3)


def test_a_json_line_nested_too_deep_is_a_rejected_row(db, tmp_path):
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        "[" * 1000 + "]" * 1000,
        sme_record(),
        '{"a": ' * 40 + "1" + "}" * 40,
    )

    report = import_profiles(path)

    assert errors_of(report) == [(1, "row"), (3, "row")]
    assert all("levels deep" in error.message for error in report.errors)
    assert report.created == 1


def test_an_exception_in_one_row_rejects_that_row_only(db, tmp_path, monkeypatch):
    original = services.create_profile

    def failing(kind, data, **kwargs):
        if data.name == "Boom":
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return original(kind, data, **kwargs)

    monkeypatch.setattr(services, "create_profile", failing)
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        sme_record(external_id="a"),
        sme_record(external_id="b", name="Boom"),
        expert_record(external_id="c"),
    )

    report = import_profiles(path)

    assert errors_of(report) == [(2, "row")]
    assert report.errors[0].message == (
        "This row could not be imported "
        "(OverflowError: Python int too large to convert to SQLite INTEGER)."
    )
    assert sorted(database.session.scalars(select(Profile.external_id))) == ["a", "c"]


def test_odd_numbers_reject_their_row_and_keep_the_good_ones(db, tmp_path):
    odd = [{"introduction_capacity": value} for value in ("--5", "²", "⁵", "9" * 5000)]
    path = write_jsonl(
        tmp_path / "profiles.jsonl",
        *(sme_record(external_id=f"good-{n}") for n in range(3)),
        *(sme_record(external_id=f"odd-{n}", **change) for n, change in enumerate(odd)),
    )

    report = import_profiles(path)

    assert (report.created, report.rejected) == (3, 4)
    assert {error.field for error in report.errors} == {"introduction_capacity"}


def test_a_csv_field_over_the_csv_modules_limit_rejects_its_row_and_reading_goes_on(db, tmp_path):
    header = ["external_id", "kind", "name", "economy", "sectors", "value_chain", "summary"]
    rows = [
        [f"row-{n}", "sme", f"Row {n}", "TW", "metal", "processing", "Casting."] for n in range(6)
    ]
    rows[2][6] = "x" * (csv.field_size_limit() + 10)  # row 4 as a spreadsheet numbers it
    path = tmp_path / "profiles.csv"
    path.write_text(csv_text(header, *rows), encoding="utf-8")

    report = import_profiles(path)

    assert errors_of(report) == [(4, "summary")]
    assert report.errors[0].message.startswith("Use at most 5000 characters")
    assert (report.created, report.rejected) == (5, 1)


def test_rows_without_sectors_or_positions_are_imported_as_incomplete_profiles(db, tmp_path):
    path = write_csv(
        tmp_path / "researchers.csv",
        ["external_id", "kind", "name", "economy", "affiliation", "summary"],
        ["r-1", "expert", "Dr. Lan Pham", "VN", "academia", "Battery chemistry."],
        ["r-2", "expert", "Dr. Budi Santoso", "ID", "research", ""],
    )

    report = import_profiles(path)

    assert (report.created, report.rejected) == (2, 0)
    missing = {
        profile.external_id: services.profile_missing(profile)
        for profile in database.session.scalars(select(Profile))
    }
    assert missing == {
        "r-1": ["sectors", "value_chain"],
        "r-2": ["sectors", "value_chain", "description"],
    }
    assert services.profile_missing(make_profile()) == []


def test_an_import_that_commits_in_batches_keeps_each_batch_with_its_journal(db, tmp_path):
    path = write_jsonl(
        tmp_path / "profiles.jsonl", *(sme_record(external_id=f"b-{n}") for n in range(5))
    )
    kept: list[tuple[int, int]] = []

    def commit() -> None:
        database.session.commit()
        # What another connection sees: the committed profiles and their journal entries.
        with database.engine.connect() as other:
            profiles = other.execute(select(func.count(Profile.id))).scalar()
            entries = other.execute(
                select(func.count(func.distinct(journal.IndexJournalEntry.profile_id)))
            ).scalar()
        kept.append((profiles, entries))

    report = import_profiles(path, commit=commit, batch_rows=2)

    assert report.created == 5
    assert kept == [(2, 2), (4, 4), (5, 5)]


def test_progress_is_reported_row_by_row(db, tmp_path):
    path = write_jsonl(tmp_path / "profiles.jsonl", sme_record(), "", "not json", expert_record())
    seen: list[int] = []

    total = count_rows(path)
    report = import_profiles(path, on_row=seen.append)

    assert total == 3
    assert seen == [1, 3, 4]
    assert (report.created, report.rejected) == (2, 1)


# --- export and round trips ----------------------------------------------------------------


def programme_with_awkward_data(tmp_path: Path) -> None:
    """Profiles made on the site and by import, with gaps in ids, Unicode and line breaks."""
    make_profile(
        owner=make_user(Role.SME),
        evidence=2,
        organisation=OrganisationInput("Kaohsiung Castings", "sme", "TW"),
    )
    deleted = make_profile(name="Deleted")
    make_profile(kind="expert", organisation=None, contact_email="")
    services.delete_profile(deleted)
    record = expert_record(
        name="陳美玲 (Chen Mei-ling)",
        summary='Line one;\r\nline two, with "quotes"\u2028and a line separator.',
        keywords=["semi;colon-free", "ÿ"],
        evidence=[
            {"kind": "publication", "title": "Same year A", "year": 2020},
            {"kind": "publication", "title": "Same year B", "year": 2020},
            {"kind": "project", "title": "No year", "text": "Ongoing."},
            {"kind": "patent", "title": "Newest", "year": 2024, "url": "https://p.example/1"},
        ],
    )
    import_profiles(write_jsonl(tmp_path / "seed.jsonl", record))
    database.session.commit()


def reexport_through_an_empty_database(exported: Path, tmp_path: Path) -> Path:
    fresh = make_test_app(tmp_path / "fresh")
    again = tmp_path / f"again{exported.suffix}"
    with fresh.app_context():
        database.create_all()
        report = import_profiles(exported)
        assert report.errors == []
        database.session.commit()
        export_profiles(again)
        database.session.remove()
        database.engine.dispose()
    return again


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_then_import_into_an_empty_database_round_trips_byte_for_byte(db, tmp_path, suffix):
    programme_with_awkward_data(tmp_path)
    exported = tmp_path / f"profiles{suffix}"

    written = export_profiles(exported)
    again = reexport_through_an_empty_database(exported, tmp_path)

    assert written == 3 and profile_count() == 4  # the deleted one waits for its purge
    assert "Deleted" not in exported.read_text(encoding="utf-8-sig")
    assert again.read_bytes() == exported.read_bytes()
    text = exported.read_text(encoding="utf-8-sig")
    assert "陳美玲" in text
    assert "private-contact@example.org" in text
    assert "pm-1" in text and "pm-3" in text


def test_the_jsonl_export_carries_evidence_and_contact_email(db, tmp_path):
    programme_with_awkward_data(tmp_path)
    exported = tmp_path / "profiles.jsonl"

    export_profiles(exported)

    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert [record["external_id"] for record in records] == ["pm-1", "pm-3", "expert-jp-topology"]
    assert records[0]["email"] == "private-contact@example.org"
    assert records[1]["organisation"] is None
    assert [item["title"] for item in records[2]["evidence"]] == [
        "Newest",
        "Same year A",
        "Same year B",
        "No year",
    ]
    assert list(records[2]) == [
        "external_id",
        "kind",
        "name",
        "organisation",
        "affiliation",
        "economy",
        "city",
        "sectors",
        "value_chain",
        "summary",
        "offers",
        "needs",
        "keywords",
        "languages",
        "website",
        "email",
        "introduction_capacity",
        "evidence",
    ]


def test_the_csv_export_has_one_header_and_flattened_organisations(db, tmp_path):
    programme_with_awkward_data(tmp_path)
    stream = io.StringIO()

    export_profiles(stream, "csv")

    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["organisation_name"] == "Kaohsiung Castings"
    assert rows[0]["sectors"] == "metal"
    assert rows[1]["organisation_name"] == ""
    assert rows[2]["keywords"] == "semi;colon-free;ÿ"


def test_reimporting_an_export_finds_site_profiles_by_their_generated_id(db, tmp_path):
    profile = make_profile(evidence=1)
    exported = tmp_path / "profiles.jsonl"
    export_profiles(exported)

    report = import_profiles(exported)

    assert (report.created, report.unchanged) == (0, 1)
    assert profile_count() == 1
    assert db.session.get(Profile, profile.id).external_id is None


def test_importing_the_external_id_of_a_deleted_profile_says_to_restore_or_purge_it(db, tmp_path):
    import_profiles(write_jsonl(tmp_path / "first.jsonl", expert_record(name="Topology Lab")))
    database.session.commit()
    [profile] = database.session.scalars(select(Profile))
    services.delete_profile(profile)
    database.session.commit()

    report = import_profiles(write_jsonl(tmp_path / "again.jsonl", expert_record(name="New name")))

    [error] = report.errors
    assert (report.rejected, error.field) == (1, "external_id")
    assert "'expert-jp-topology' is a profile deleted on" in error.message
    assert "profiles restore expert-jp-topology" in error.message
    assert "profiles purge-deleted --external-id expert-jp-topology" in error.message
    database.session.refresh(profile)
    assert profile_count() == 1 and profile.name == "Topology Lab" and profile.is_deleted
