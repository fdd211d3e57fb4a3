"""Bulk import and export of profiles as JSON Lines or CSV. No HTTP; callers commit.

Formats
    ``.jsonl``: one JSON object a line, with the keys of ``JSONL_FIELDS`` (the shape of
    ``partnermatch/demo/*.jsonl``, except that the contact email is ``email``; ``contact_email``
    is accepted as an alias). ``organisation`` is an object or null, ``evidence`` a list of
    ``{kind, title, text, year, url}`` objects.
    ``.csv``: a header row naming columns of ``CSV_COLUMNS``, lists separated by ";", the
    organisation flattened into ``organisation_*`` columns, no evidence. UTF-8, with or without
    a byte-order mark.

Import
    Each row is upserted by ``external_id`` in its own savepoint, so a bad row writes nothing
    and the good rows are kept. A row describes the whole profile: a field it leaves out is
    emptied. Evidence is replaced only by rows that carry an ``evidence`` key, so CSV rows keep
    the evidence a profile has. A row that would change nothing is rolled back and counted
    as unchanged, so importing the same file twice leaves the database as it was. Rows must
    carry an external id, and one that appears twice in a file is rejected, because either
    would make a second import copy or flip profiles instead of finding them. A new profile
    belongs to nobody; a profile's kind cannot change. An organisation is found by name and
    economy as everywhere else: a row does not change the kind of an existing organisation.
    Row numbers are line numbers for JSONL and row numbers as a spreadsheet shows them for
    CSV (the header is row 1). Whatever is wrong with a row rejects that row: a value the
    services refuse, bytes that are not UTF-8, a line nested too deep, an unexpected error;
    a failing database stops the import. Rows without sectors or value-chain positions are
    imported and marked incomplete (services.profile_missing). A caller may commit every
    IMPORT_BATCH_ROWS rows (``commit=``): an import stopped part-way keeps those batches,
    and running it again finds their rows unchanged.

Export
    Every profile, ordered by id, so that export, import into an empty database and export
    again give the same bytes. A profile made on the site has no external id: it is written
    as ``pm-<id>``, in the file only. Importing the file back into the database it came from
    finds such a profile again by that id as long as it still has no external id; imported
    anywhere else, the row creates a profile with ``pm-<id>`` as its external id. The export
    holds private contact emails: it is for the programme's staff. A CSV export has no
    evidence, and a ";" inside a list value would split it: JSONL is the lossless format.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from partnermatch import reference
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import load_json, refuse_unencodable
from partnermatch.profiles import schema, services
from partnermatch.profiles.models import Profile
from partnermatch.profiles.schema import EvidenceInput, ProfileInput
from partnermatch.reference import ProfileKind

Source = str | os.PathLike[str] | IO[str] | IO[bytes]
Destination = str | os.PathLike[str] | IO[str]

FORMATS = ("jsonl", "csv")
# The files' fields come from the profile schema: the identity, the profile's fields in the
# files' naming (email for the API's contact_email) and the evidence list.
JSONL_FIELDS = (
    *schema.names(schema.IDENTITY_SCHEMA, schema.FILE),
    *(field.named(schema.FILE) for field in schema.PROFILE_SCHEMA),
    "evidence",
)
ORGANISATION_FIELDS = schema.names(schema.ORGANISATION_SCHEMA, schema.API)
# A CSV row is flat: the organisation's fields are columns organisation_name, ... in its place.
CSV_COLUMNS = tuple(
    column
    for field in (*schema.IDENTITY_SCHEMA, *schema.PROFILE_SCHEMA)
    for column in (
        [f"organisation_{name}" for name in ORGANISATION_FIELDS]
        if field.type == schema.ORGANISATION
        else [field.named(schema.FILE)]
    )
)
# Sectors and value-chain positions may be missing (a list of researchers has neither): the
# profiles are then imported and marked incomplete (services.profile_missing).
REQUIRED_CSV_COLUMNS = ("external_id", "kind", "name", "economy")
LIST_FIELDS = tuple(
    field.named(schema.FILE) for field in schema.PROFILE_SCHEMA if field.type == schema.LIST
)
EMAIL_ALIAS = "contact_email"
MAX_EXTERNAL_ID = 100
# A JSONL line holds one profile with its evidence; past this it is refused as a row.
MAX_LINE_BYTES = 8 * 1024 * 1024
GENERATED_ID = re.compile(r"pm-([1-9][0-9]*)")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str
    external_id: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Set when the file itself is unusable (unknown column, not UTF-8): no row was read.
    file_rejected: bool = False

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def rows(self) -> int:
        return self.imported + self.rejected


@dataclass(frozen=True)
class _SourceRow:
    line: int
    record: Mapping[str, Any] | None
    error: ValidationError | None = None


@dataclass(frozen=True)
class _ParsedFile:
    rows: list[_SourceRow]
    error: RowError | None = None


@dataclass(frozen=True)
class _RowData:
    external_id: str
    kind: ProfileKind
    profile: ProfileInput
    evidence: list[EvidenceInput] | None
    email_key: str


# --- formats and files ---------------------------------------------------------------------


def format_for(source: Source | Destination, fmt: str | None = None) -> str:
    """Return the format to use: the one given, or the one a file name ends with."""
    if fmt is None:
        # Open files and click.File streams carry their path in .name.
        path = source if isinstance(source, str | os.PathLike) else getattr(source, "name", "")
        fmt = Path(path).suffix if isinstance(path, str | os.PathLike) else ""
    fmt = (fmt or "").strip().lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError(
            "format", f"Use a .jsonl or .csv file, or name the format ({', '.join(FORMATS)})."
        )
    return fmt


def _read_text(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        content: str | bytes = Path(source).read_bytes()
    else:
        content = source.read()
    if isinstance(content, bytes):
        # utf-8-sig drops the byte-order mark that spreadsheet programs write. A byte that is
        # not UTF-8 becomes a lone surrogate, which the text cleaner refuses in the row that
        # holds it: one bad row does not lose the others.
        return content.decode("utf-8-sig", errors="surrogateescape")
    return content.removeprefix("\ufeff")


def _parse(source: Source, fmt: str) -> _ParsedFile:
    text = _read_text(source)
    return _parse_jsonl(text) if fmt == "jsonl" else _parse_csv(text)


def _parse_jsonl(text: str) -> _ParsedFile:
    rows = []
    # Split on "\n" only: str.splitlines() would also split on U+2028 inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = load_json(line, field="row", max_bytes=MAX_LINE_BYTES)
        except ValidationError as error:
            rows.append(_SourceRow(number, None, error))
            continue
        if not isinstance(record, dict):
            message = f"Each line must be a JSON object, not {type(record).__name__}."
            rows.append(_SourceRow(number, None, ValidationError("row", message)))
            continue
        rows.append(_SourceRow(number, record))
    return _ParsedFile(rows)


def _csv_header(cells: list[str]) -> tuple[list[str], RowError | None]:
    for position, cell in enumerate(cells, start=1):
        try:
            refuse_unencodable(cell, "header")
        except ValidationError:
            message = f"Column {position}'s name is not UTF-8 text: save the file as UTF-8."
            return [], RowError(1, "header", message)
    header = [cell.strip().lower() for cell in cells]
    header = ["email" if name == EMAIL_ALIAS else name for name in header]
    for position, name in enumerate(header, start=1):
        if not name:
            return header, RowError(1, "header", f"Column {position} has no name.")
        if name not in CSV_COLUMNS:
            message = (
                f"Unknown column '{cells[position - 1].strip()}': use {', '.join(CSV_COLUMNS)}."
            )
            return header, RowError(1, name, message)
        if header.count(name) > 1:
            return header, RowError(1, name, "This column appears more than once.")
    missing = [name for name in REQUIRED_CSV_COLUMNS if name not in header]
    if missing:
        return header, RowError(1, "header", f"Missing column(s): {', '.join(missing)}.")
    return header, None


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    # The csv module stops at a field over its limit (128 KiB) with an error that leaves the
    # reader inside the field: no field can be longer than the file, so none stops the
    # reading, and an over-long value is refused by its field's own length rule instead.
    previous = csv.field_size_limit(max(limit, csv.field_size_limit()))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _parse_csv(text: str) -> _ParsedFile:
    with _csv_field_limit(len(text) + 1):
        return _read_csv_rows(csv.reader(io.StringIO(text, newline="")))


def _read_csv_rows(reader: Iterator[list[str]]) -> _ParsedFile:
    try:
        first = next(reader)
    except StopIteration:
        return _ParsedFile([], RowError(1, "header", "The file is empty: give a header row."))
    except csv.Error as error:
        return _ParsedFile([], RowError(1, "header", f"Not valid CSV: {error}."))
    header, header_error = _csv_header(first)
    if header_error is not None:
        return _ParsedFile([], header_error)
    rows: list[_SourceRow] = []
    # Count records, not physical lines: a quoted value may span lines, and a spreadsheet
    # shows the record's row number.
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # Report the record and read on from the next one.
            error_row = ValidationError("row", f"Not valid CSV: {error}.")
            rows.append(_SourceRow(number, None, error_row))
            continue
        row = _csv_row_of(number, cells, header)
        if row is not None:
            rows.append(row)
    return _ParsedFile(rows)


def _csv_row_of(number: int, cells: list[str], header: list[str]) -> _SourceRow | None:
    if not any(cell.strip() for cell in cells):
        return None
    # Spreadsheets pad rows with empty cells; anything else past the header is a broken row.
    if len(cells) < len(header) or any(cell.strip() for cell in cells[len(header) :]):
        message = f"This row has {len(cells)} values; the header names {len(header)} columns."
        return _SourceRow(number, None, ValidationError("row", message))
    for name, cell in zip(header, cells, strict=False):
        try:
            refuse_unencodable(cell, name)
        except ValidationError as error:
            return _SourceRow(number, None, error)
    return _SourceRow(number, _csv_record(dict(zip(header, cells, strict=False))))


def _csv_record(cells: dict[str, str]) -> dict[str, Any]:
    """Shape a CSV row like a JSONL record."""
    record: dict[str, Any] = {
        name: value for name, value in cells.items() if not name.startswith("organisation_")
    }
    for name in LIST_FIELDS:
        if name in record:
            record[name] = [item.strip() for item in record[name].split(";") if item.strip()]
    organisation = {
        name: cells[f"organisation_{name}"]
        for name in ORGANISATION_FIELDS
        if f"organisation_{name}" in cells
    }
    record["organisation"] = (
        organisation if any(value.strip() for value in organisation.values()) else None
    )
    return record


def count_rows(source: Source, fmt: str | None = None) -> int:
    """Return how many rows a file holds, for the length of a progress bar."""
    return len(_parse(source, format_for(source, fmt)).rows)


# --- import --------------------------------------------------------------------------------


def _external_id(record: Mapping[str, Any]) -> str:
    value = record.get("external_id")
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "external_id",
            "Give every row an external id, so that importing the file again updates "
            "the profile instead of copying it.",
        )
    value = value.strip()
    if len(value) > MAX_EXTERNAL_ID:
        raise ValidationError("external_id", f"Use at most {MAX_EXTERNAL_ID} characters.")
    return value


def _evidence(value: Any) -> list[EvidenceInput]:
    if not isinstance(value, list):
        raise ValidationError("evidence", "Give evidence as a list of objects.")
    return [schema.read_evidence(item, f"evidence[{n}]") for n, item in enumerate(value)]


def _row_data(record: Mapping[str, Any]) -> _RowData:
    """Check a record's shape and turn it into service inputs; the services check the values."""
    schema.check_keys(
        record, JSONL_FIELDS[:2] + schema.names(schema.PROFILE_SCHEMA, schema.FILE) + ("evidence",)
    )
    external_id = _external_id(record)
    if not record.get("kind"):
        raise ValidationError("kind", "Give the kind of profile: sme or expert.")
    kind = reference.coerce_enum(ProfileKind, record["kind"], "kind")
    email_key = EMAIL_ALIAS if EMAIL_ALIAS in record and "email" not in record else "email"
    if "email" in record and EMAIL_ALIAS in record and record["email"] != record[EMAIL_ALIAS]:
        raise ValidationError("email", f"Give either email or {EMAIL_ALIAS}, not both.")
    # A row describes the whole profile: a field it leaves out is emptied.
    fields = schema.read_fields(record, schema.PROFILE_SCHEMA, schema.FILE)
    profile = ProfileInput(**{"name": "", "economy": "", **fields})
    evidence = _evidence(record["evidence"]) if "evidence" in record else None
    return _RowData(external_id, kind, profile, evidence, email_key)


def find_profile(external_id: str) -> Profile | None:
    """Return the profile, deleted or not, that an external id (or a pm-<id>) names."""
    profile = db.session.scalar(select(Profile).where(Profile.external_id == external_id))
    generated = GENERATED_ID.fullmatch(external_id)
    if profile is None and generated:
        # An export names a profile without an external id pm-<id> (see the module docstring).
        candidate = db.session.get(Profile, int(generated[1]))
        if candidate is not None and candidate.external_id is None:
            return candidate
    return profile


def _replace_evidence(profile: Profile, items: list[EvidenceInput]) -> None:
    for item in list(profile.evidence):
        services.remove_evidence(item)
    # Deleting does not take the items out of the loaded collection: load it afresh.
    db.session.expire(profile, ["evidence"])
    for position, item in enumerate(items):
        try:
            services.add_evidence(profile, item)
        except ValidationError as error:
            raise ValidationError(f"evidence[{position}].{error.field}", error.message) from None


def _comparable(profile: Profile) -> dict[str, Any]:
    record = _record(profile)
    # Evidence is shown by year, so the order within a file is not part of the data.
    record["evidence"] = sorted(json.dumps(item, sort_keys=True) for item in record["evidence"])
    return record


def _apply(data: _RowData) -> str:
    """Create or update the row's profile; return created, updated or unchanged."""
    profile = find_profile(data.external_id)
    if profile is None:
        _create(data)
        return "created"
    if profile.is_deleted:
        # Updating it would change a profile no one sees; creating a second would duplicate
        # it once restored. The person importing decides which of the two it is.
        raise ValidationError(
            "external_id",
            f"'{data.external_id}' is a profile deleted on {profile.deleted_at:%Y-%m-%d}: "
            "restore it (Deleted profiles on the site, or `flask --app wsgi profiles restore "
            f"{data.external_id}`) and import again to update it, or purge it (`flask --app "
            f"wsgi profiles purge-deleted --external-id {data.external_id}`) to import it anew.",
        )
    if profile.kind is not data.kind:
        raise ValidationError(
            "kind",
            f"'{data.external_id}' is an existing {profile.kind.value} profile; "
            "its kind cannot change.",
        )
    before = _comparable(profile)
    services.update_profile(profile, data.profile)
    if data.evidence is not None:
        _replace_evidence(profile, data.evidence)
    return "unchanged" if _comparable(profile) == before else "updated"


def _create(data: _RowData) -> Profile:
    profile = services.create_profile(data.kind, data.profile, external_id=data.external_id)
    _replace_evidence(profile, data.evidence or [])
    return profile


def create_from_record(record: Mapping[str, Any]) -> Profile:
    """Create an unowned profile with its evidence from one record of the JSONL format."""
    data = _row_data(record)
    if find_profile(data.external_id) is not None:
        raise ValidationError(
            "external_id", f"A profile with external id '{data.external_id}' exists."
        )
    return _create(data)


def _field_name(name: str, fmt: str, email_key: str) -> str:
    """Name a field as the file names it: a JSON path in JSONL, a column in CSV."""
    if name == "contact_email":
        return email_key
    if fmt == "csv":
        return name.replace("organisation.", "organisation_", 1)
    return schema.dotted(name)


def _import_row(row: _SourceRow, fmt: str, seen: dict[str, int], report: ImportReport) -> None:
    # Name the row in an error report even when its other fields are unusable.
    given_id = (row.record or {}).get("external_id")
    external_id = (given_id.strip() or None) if isinstance(given_id, str) else None
    email_key = "email"
    try:
        if row.error is not None:
            raise row.error
        data = _row_data(row.record or {})
        email_key = data.email_key
        if external_id in seen:
            raise ValidationError(
                "external_id",
                f"'{external_id}' already appears on line {seen[external_id]}; "
                "give each profile one row.",
            )
        seen[external_id] = row.line
        savepoint = db.session.begin_nested()
        try:
            outcome = _apply(data)
        except BaseException:
            savepoint.rollback()
            raise
        if outcome == "unchanged":
            savepoint.rollback()
        else:
            savepoint.commit()
    except ValidationError as error:
        report.rejected += 1
        report.errors.append(
            RowError(row.line, _field_name(error.field, fmt, email_key), error.message, external_id)
        )
        return
    except (OperationalError, OSError, MemoryError):
        # The database or the machine failed, not the row: no later row would fare better.
        # The batches committed so far are kept; running the import again goes on from there.
        raise
    except Exception as error:
        # Whatever else a row raises rejects that row only, with what went wrong.
        report.rejected += 1
        detail = str(error).encode("utf-8", "backslashreplace").decode("utf-8")
        message = f"This row could not be imported ({type(error).__name__}: {detail[:300]})."
        report.errors.append(RowError(row.line, "row", message, external_id))
        return
    if outcome == "created":
        report.created += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.unchanged += 1


# Rows between two commits of an import run by a caller that commits in batches.
IMPORT_BATCH_ROWS = 500


def import_profiles(
    source: Source,
    fmt: str | None = None,
    *,
    on_row: Callable[[int], None] | None = None,
    commit: Callable[[], None] | None = None,
    batch_rows: int = IMPORT_BATCH_ROWS,
) -> ImportReport:
    """Create or update a profile for each good row of a file and report the bad rows.

    ``on_row`` is called with the row's line number after each row, good or bad. ``commit``,
    when given, is called after every ``batch_rows`` rows and at the end: the profiles and
    their index journal entries are then kept batch by batch, so an import stopped part-way
    keeps what it had done, and running it again finds those rows unchanged.
    """
    fmt = format_for(source, fmt)
    report = ImportReport()
    parsed = _parse(source, fmt)
    if parsed.error is not None:
        report.errors.append(parsed.error)
        report.file_rejected = True
        return report
    seen: dict[str, int] = {}
    for count, row in enumerate(parsed.rows, start=1):
        _import_row(row, fmt, seen, report)
        if on_row is not None:
            on_row(row.line)
        if commit is not None and count % batch_rows == 0:
            commit()
    if commit is not None:
        commit()
    return report


# --- export --------------------------------------------------------------------------------


def _record(profile: Profile) -> dict[str, Any]:
    """Return a profile as one JSONL record."""
    return {
        "external_id": profile.external_id or f"pm-{profile.id}",
        "kind": profile.kind.value,
        **schema.record_of(profile, schema.FILE),
        "evidence": [schema.evidence_record(item) for item in profile.evidence],
    }


def _csv_row(record: dict[str, Any]) -> list[str]:
    organisation = record["organisation"] or {}
    cells = {
        **{key: value for key, value in record.items() if key in CSV_COLUMNS},
        **{f"organisation_{key}": organisation.get(key, "") for key in ORGANISATION_FIELDS},
    }
    for name in LIST_FIELDS:
        cells[name] = ";".join(cells[name])
    capacity = cells.get("introduction_capacity")
    cells["introduction_capacity"] = "" if capacity is None else str(capacity)
    return [cells[column] for column in CSV_COLUMNS]


def _all_profiles() -> Iterable[Profile]:
    return db.session.scalars(
        select(Profile)
        .where(Profile.deleted_at.is_(None))  # a deleted profile waits for restore or purge
        .order_by(Profile.id)
        .options(
            selectinload(Profile.organisation),
            selectinload(Profile.sector_rows),
            selectinload(Profile.value_chain_rows),
            selectinload(Profile.evidence),
        )
    )


def _json_line(record: dict[str, Any]) -> str:
    # Escape the Unicode line separators, which json.dumps leaves raw, so that readers that
    # split on every line break (str.splitlines, editors) still see one record a line.
    text = json.dumps(record, ensure_ascii=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


def _write(stream: IO[str], fmt: str) -> int:
    count = 0
    if fmt == "jsonl":
        for profile in _all_profiles():
            stream.write(_json_line(_record(profile)))
            count += 1
        return count
    # CRLF row ends, as RFC 4180 has them: the csv module then also quotes a cell that holds a
    # lone carriage return, which would otherwise split the row when read back.
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for profile in _all_profiles():
        writer.writerow(_csv_row(_record(profile)))
        count += 1
    return count


def export_profiles(destination: Destination, fmt: str | None = None) -> int:
    """Write every profile, ordered by id, to a file or text stream; return how many.

    A CSV file gets a UTF-8 byte-order mark so that spreadsheet programs read it as UTF-8;
    a stream gets the text only.
    """
    fmt = format_for(destination, fmt)
    if isinstance(destination, str | os.PathLike):
        encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
        with open(destination, "w", encoding=encoding, newline="") as stream:
            return _write(stream, fmt)
    return _write(destination, fmt)
