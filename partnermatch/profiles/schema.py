"""One description of a profile's fields, read by import, export, the API and its OpenAPI
document, and by the services' length rules.

Each `Field` names the attribute (on `ProfileInput`, `EvidenceInput`, `OrganisationInput`
and the models, and in the API), its type, its limits, and the name import and export files
give it when that differs (the file's ``email`` is the API's ``contact_email``). `read_fields`
turns a JSON object (an API body, an import row) into service inputs with the one integer
parser and type checks that name the field; `record_of` writes a profile back in either
naming; `json_schema` describes the fields for OpenAPI. The values themselves (vocabularies,
emails, web addresses, lengths) are checked by the services, so every way in keeps the same
rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from partnermatch.errors import ValidationError
from partnermatch.inputs import parse_int
from partnermatch.reference import Affiliation, EvidenceKind, OrganisationKind, ProfileKind

TEXT = "text"
LIST = "list"
INTEGER = "integer"
CHOICE = "choice"
ORGANISATION = "organisation"
FILE = "file"  # the naming of import and export files
API = "api"  # the naming of the JSON API


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    kind: str = OrganisationKind.OTHER
    economy: str = ""
    website: str = ""


@dataclass(frozen=True)
class ProfileInput:
    name: str
    economy: str
    affiliation: str = Affiliation.INDUSTRY
    city: str = ""
    sectors: tuple[str, ...] = ()
    value_chain: tuple[str, ...] = ()
    summary: str = ""
    offers: str = ""
    needs: str = ""
    keywords: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    website: str = ""
    contact_email: str = ""
    organisation: OrganisationInput | None = None
    introduction_capacity: int | None = None


@dataclass(frozen=True)
class EvidenceInput:
    kind: str
    title: str
    text: str = ""
    year: int | None = None
    url: str = ""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str = ""
    max_length: int | None = None  # characters of a text, or of each item of a list
    max_items: int | None = None
    required: bool = False
    low: int | None = None
    high: int | None = None
    choices: type[StrEnum] | None = None
    default: str | None = None  # a choice left out or empty
    file_name: str | None = None  # the name in import and export files, when not `name`
    aliases: tuple[str, ...] = ()  # other names import files may use
    listed: bool = False  # shown in lists (the API's profile list), not only in full
    private: bool = False  # shown only to those who may see contact details

    def named(self, naming: str) -> str:
        return (self.file_name or self.name) if naming == FILE else self.name


ORGANISATION_SCHEMA = (
    Field("name", TEXT, max_length=200, required=True),
    Field("kind", CHOICE, choices=OrganisationKind, default=OrganisationKind.OTHER),
    Field("economy", TEXT, description="a code or a name; default: the profile's"),
    Field("website", TEXT, max_length=300),
)
# Set when a profile is created, never changed by an update.
IDENTITY_SCHEMA = (
    Field(
        "external_id",
        TEXT,
        max_length=100,
        description="the profile's id in the programme's own records (import, coordinators)",
    ),
    Field("kind", CHOICE, choices=ProfileKind),
)
PROFILE_SCHEMA = (
    Field("name", TEXT, max_length=200, required=True, listed=True),
    Field("organisation", ORGANISATION),
    Field("affiliation", CHOICE, choices=Affiliation, default=Affiliation.INDUSTRY, listed=True),
    Field("economy", TEXT, description="a code (VN) or a name (Viet Nam)", listed=True),
    Field("city", TEXT, max_length=120, listed=True),
    Field("sectors", LIST, description="sector codes (GET /reference)", listed=True),
    Field("value_chain", LIST, description="value-chain codes (GET /reference)", listed=True),
    Field("summary", TEXT, max_length=5000),
    Field("offers", TEXT, max_length=5000),
    Field("needs", TEXT, max_length=5000),
    Field("keywords", LIST, max_length=60, max_items=20),
    Field("languages", LIST, description="codes or names: en, zh, Thai"),
    Field("website", TEXT, max_length=300),
    Field(
        "contact_email",
        TEXT,
        max_length=254,
        file_name="email",
        aliases=("contact_email",),
        private=True,
    ),
    Field(
        "introduction_capacity",
        INTEGER,
        low=0,
        high=100,
        description="introductions accepted per round; null: the programme's default",
    ),
)
EVIDENCE_SCHEMA = (
    Field("kind", CHOICE, choices=EvidenceKind),
    Field("title", TEXT, max_length=300, required=True),
    Field("text", TEXT, max_length=20000),
    Field("year", INTEGER, low=1900, high=2100),
    Field("url", TEXT, max_length=500),
)
PROFILE_FIELDS = {field.name: field for field in PROFILE_SCHEMA}

# The services' length rules, by the names their errors give (organisation_name, ...).
MAX_LENGTHS = {
    **{field.name: field.max_length for field in PROFILE_SCHEMA if field.type == TEXT},
    **{
        f"organisation_{field.name}": field.max_length
        for field in ORGANISATION_SCHEMA
        if field.max_length
    },
    **{field.name: field.max_length for field in EVIDENCE_SCHEMA if field.type == TEXT},
}
MAX_KEYWORDS = PROFILE_FIELDS["keywords"].max_items
MAX_KEYWORD_LENGTH = PROFILE_FIELDS["keywords"].max_length
MAX_CAPACITY = PROFILE_FIELDS["introduction_capacity"].high


def enum_values(enum_cls: type[StrEnum] | None) -> list[str]:
    return [member.value for member in enum_cls or ()]


def dotted(field: str) -> str:
    """Name a nested field as a JSON path: the services' organisation_name is
    organisation.name in a JSON document (a CSV file names its column organisation_name)."""
    if field.startswith("organisation_"):
        return "organisation." + field.removeprefix("organisation_")
    return field


def names(fields: Iterable[Field], naming: str) -> tuple[str, ...]:
    """Return the fields' names in this naming, with the aliases import files may use."""
    result: list[str] = []
    for field in fields:
        result.append(field.named(naming))
        if naming == FILE:
            result.extend(field.aliases)
    return tuple(result)


def check_keys(data: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Refuse keys the schema does not know, naming the first."""
    allowed = tuple(allowed)
    for key in data:
        if key not in allowed:
            raise ValidationError(f"{prefix}{key}", f"Unknown field: use {', '.join(allowed)}.")


# --- reading -----------------------------------------------------------------------------------


def _read_organisation(value: Any, path: str) -> OrganisationInput | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(path, "Give the organisation as an object with a name, or null.")
    check_keys(value, names(ORGANISATION_SCHEMA, API), f"{path}.")
    fields = read_fields(value, ORGANISATION_SCHEMA, API, prefix=f"{path}.")
    if not fields.get("name", "").strip():
        raise ValidationError(f"{path}.name", "Name the organisation, or leave it out.")
    return OrganisationInput(**fields)


def read_value(field: Field, value: Any, path: str) -> Any:
    """Read one field's value from JSON (or a CSV cell shaped like it), naming `path` when
    its type is wrong; the services then check what it says."""
    if field.type == TEXT:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValidationError(path, "Give text here.")
        return value
    if field.type == LIST:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValidationError(path, 'Give a list of text values, such as ["metal"].')
        return tuple(value)
    if field.type == INTEGER:
        return parse_int(value, path, low=field.low, high=field.high)  # type: ignore[arg-type]
    if field.type == CHOICE:
        if value is None or value == "":
            return field.default if field.default is not None else ""
        if not isinstance(value, str):
            raise ValidationError(path, f"Use one of: {', '.join(enum_values(field.choices))}.")
        return value
    return _read_organisation(value, path)


def read_fields(
    data: Mapping[str, Any], fields: Iterable[Field], naming: str, prefix: str = ""
) -> dict[str, Any]:
    """Return {attribute: value} for each of the fields that `data` holds (PATCH semantics:
    a field left out is not in the result)."""
    values: dict[str, Any] = {}
    for field in fields:
        for key in (field.named(naming), *(field.aliases if naming == FILE else ())):
            if key in data:
                values[field.name] = read_value(field, data[key], f"{prefix}{key}")
                break
    return values


def read_evidence(data: Any, path: str, current: EvidenceInput | None = None) -> EvidenceInput:
    """Read an evidence item, over the current one for a PATCH."""
    if not isinstance(data, Mapping):
        raise ValidationError(path, "Give each evidence item as an object.")
    prefix = f"{path}." if path else ""
    check_keys(data, names(EVIDENCE_SCHEMA, API), prefix)
    base = current.__dict__ if current else {"kind": "", "title": ""}
    return EvidenceInput(**{**base, **read_fields(data, EVIDENCE_SCHEMA, API, prefix)})


# --- writing -----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple):
        return list(value)
    return value


def record_of(profile: Any, naming: str, *, private: bool = True) -> dict[str, Any]:
    """Return a profile's fields in this naming; its contact details only when `private`."""
    record: dict[str, Any] = {}
    for field in PROFILE_SCHEMA:
        if field.private and not private:
            continue
        value = getattr(profile, field.name)
        if field.type == ORGANISATION:
            value = value.as_record() if value is not None else None
        record[field.named(naming)] = _plain(value)
    return record


def evidence_record(item: Any) -> dict[str, Any]:
    """Return an evidence item's fields."""
    return {field.name: _plain(getattr(item, field.name)) for field in EVIDENCE_SCHEMA}


def profile_input_of(profile: Any) -> ProfileInput:
    """Return a stored profile's editable fields as service input."""
    values = {}
    for field in PROFILE_SCHEMA:
        value = getattr(profile, field.name)
        if field.type == LIST:
            value = tuple(value)
        elif field.type == ORGANISATION and value is not None:
            value = OrganisationInput(value.name, value.kind, value.economy, value.website)
        values[field.name] = value
    return ProfileInput(**values)


# --- OpenAPI -----------------------------------------------------------------------------------


def _property(field: Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if field.type == TEXT:
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
    elif field.type == LIST:
        items: dict[str, Any] = {"type": "string"}
        if field.max_length:
            items["maxLength"] = field.max_length
        schema = {"type": "array", "items": items}
        if field.max_items:
            schema["maxItems"] = field.max_items
    elif field.type == INTEGER:
        schema = {"type": ["integer", "null"], "minimum": field.low, "maximum": field.high}
    elif field.type == CHOICE:
        schema = {"type": "string", "enum": enum_values(field.choices)}
    else:
        schema = {"type": ["object", "null"], **json_schema(ORGANISATION_SCHEMA)}
    if field.description:
        schema["description"] = field.description
    return schema


def json_schema(fields: Iterable[Field]) -> dict[str, Any]:
    """Describe the fields as a JSON Schema object (the API's naming)."""
    fields = tuple(fields)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {field.name: _property(field) for field in fields},
    }
