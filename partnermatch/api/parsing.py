"""Read API input into the services' types; a bad value is an ApiError naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from partnermatch import reference
from partnermatch.api.errors import ApiError
from partnermatch.errors import ValidationError
from partnermatch.inputs import clean_text, parse_int
from partnermatch.matching import strength
from partnermatch.profiles import schema
from partnermatch.profiles.schema import EvidenceInput, ProfileInput
from partnermatch.profiles.services import ProfileFilters
from partnermatch.reference import Affiliation, ProfileKind

MAX_QUERY_CHARACTERS = 20_000
SEARCH_FIELDS = (
    "query",
    "kind",
    "affiliations",
    "economies",
    "exclude_economies",
    "sectors",
    "value_chain",
    "limit",
    "offset",
    "min_strength",
)


@dataclass(frozen=True)
class SearchRequest:
    query: str
    filters: ProfileFilters
    limit: int
    offset: int
    min_strength: str = strength.WEAK


def _list(data: Mapping[str, Any], field: str) -> list[str]:
    value = data.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(422, "Give a list of text values.", field)
    return value


def integer(value: Any, field: str, *, default: int, low: int, high: int) -> int:
    """Read a whole number within [low, high] from JSON or a query string."""
    try:
        return parse_int(value, field, low=low, high=high, default=default)  # type: ignore[return-value]
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None


def filters_from(data: Mapping[str, Any]) -> ProfileFilters:
    """Read the profile filters shared by search and the profile list."""
    kind = data.get("kind")
    if kind is not None and kind not in (ProfileKind.SME.value, ProfileKind.EXPERT.value):
        raise ApiError(422, "Use null, 'sme' or 'expert'.", "kind")
    affiliations = _list(data, "affiliations")
    unknown = [value for value in affiliations if value not in {a.value for a in Affiliation}]
    if unknown:
        raise ApiError(422, f"Unknown affiliation {unknown[0]!r}.", "affiliations")
    try:
        return ProfileFilters(
            kind=kind,
            affiliations=tuple(affiliations),
            economies=tuple(
                reference.normalise_economy(e, "economies") for e in _list(data, "economies")
            ),
            exclude_economies=tuple(
                reference.normalise_economy(e, "exclude_economies")
                for e in _list(data, "exclude_economies")
            ),
            sectors=tuple(reference.check_sectors(_list(data, "sectors"))),
            value_chain=tuple(reference.check_value_chain(_list(data, "value_chain"))),
        )
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None


def search_request(data: Mapping[str, Any]) -> SearchRequest:
    """Read a search request body (or the equivalent query string)."""
    for key in data:
        if key not in SEARCH_FIELDS:
            raise ApiError(422, f"Unknown field: use {', '.join(SEARCH_FIELDS)}.", key)
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ApiError(422, "Give the text to search for.", "query")
    try:
        query = clean_text(query, "query", max_length=MAX_QUERY_CHARACTERS)
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None
    return SearchRequest(
        query=query,
        filters=filters_from(data),
        limit=integer(data.get("limit"), "limit", default=20, low=1, high=1000),
        offset=integer(data.get("offset"), "offset", default=0, low=0, high=1_000_000),
        min_strength=_strength(data.get("min_strength")),
    )


def _strength(value: Any) -> str:
    """Read a strength band (weak, the default, keeps every result)."""
    if value is None or value == "":
        return strength.WEAK
    if not isinstance(value, str) or value not in strength.BANDS:
        raise ApiError(422, f"Give one of {', '.join(strength.BANDS)}.", "min_strength")
    return value


def query_string_data(args: Any, lists: tuple[str, ...]) -> dict[str, Any]:
    """Turn a query string into request data: repeated parameters become lists."""
    data: dict[str, Any] = {}
    for key in args:
        data[key] = args.getlist(key) if key in lists else args.get(key)
    if "q" in data:
        data["query"] = data.pop("q")
    return data


# The body of POST and PATCH /profiles: the identity (set at creation) and the profile's
# fields, as the profile schema names them for the API.
PROFILE_FIELDS = schema.names((*schema.IDENTITY_SCHEMA, *schema.PROFILE_SCHEMA), schema.API)


def check_fields(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse keys the endpoint does not know, naming the first."""
    try:
        schema.check_keys(data, allowed)
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None


def profile_changes(data: Mapping[str, Any], current: ProfileInput) -> ProfileInput:
    """Return the profile's fields with the given ones replaced (PATCH semantics)."""
    check_fields(data, PROFILE_FIELDS)
    try:
        changes = schema.read_fields(data, schema.PROFILE_SCHEMA, schema.API)
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None
    return replace(current, **changes)


def evidence_input(data: Mapping[str, Any], current: EvidenceInput | None = None) -> EvidenceInput:
    """Return an evidence item's fields from a body, over the current ones for PATCH."""
    try:
        return schema.read_evidence(data, "", current)
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None
