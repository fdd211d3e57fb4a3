"""Read API input into the services' types; a bad value is an ApiError naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from partnermatch import reference
from partnermatch.api.errors import ApiError
from partnermatch.errors import ValidationError
from partnermatch.inputs import clean_text, parse_int
from partnermatch.profiles.services import (
    EvidenceInput,
    OrganisationInput,
    ProfileFilters,
    ProfileInput,
)
from partnermatch.profiles.transfer import EVIDENCE_FIELDS, ORGANISATION_FIELDS
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
)


@dataclass(frozen=True)
class SearchRequest:
    query: str
    filters: ProfileFilters
    limit: int
    offset: int


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
    )


def query_string_data(args: Any, lists: tuple[str, ...]) -> dict[str, Any]:
    """Turn a query string into request data: repeated parameters become lists."""
    data: dict[str, Any] = {}
    for key in args:
        data[key] = args.getlist(key) if key in lists else args.get(key)
    if "q" in data:
        data["query"] = data.pop("q")
    return data


PROFILE_FIELDS = (
    "kind",
    "external_id",
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
    "contact_email",
    "introduction_capacity",
)


def check_fields(data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse keys the endpoint does not know, naming the first."""
    for key in data:
        if key not in allowed:
            raise ApiError(422, f"Unknown field: use {', '.join(allowed)}.", key)


def profile_changes(data: Mapping[str, Any], current: ProfileInput) -> ProfileInput:
    """Return the profile's fields with the given ones replaced (PATCH semantics)."""
    check_fields(data, PROFILE_FIELDS)
    changes: dict[str, Any] = {}
    for key in (
        "name",
        "economy",
        "affiliation",
        "city",
        "summary",
        "offers",
        "needs",
        "website",
        "contact_email",
    ):
        if key in data:
            if not isinstance(data[key], str):
                raise ApiError(422, "Give text here.", key)
            changes[key] = data[key]
    for key in ("sectors", "value_chain", "keywords", "languages"):
        if key in data:
            changes[key] = tuple(_list(data, key))
    if "introduction_capacity" in data:
        value = data["introduction_capacity"]
        changes["introduction_capacity"] = (
            None
            if value is None
            else integer(value, "introduction_capacity", default=0, low=0, high=100)
        )
    if "organisation" in data:
        organisation = data["organisation"]
        if organisation is None:
            changes["organisation"] = None
        elif not isinstance(organisation, Mapping) or not isinstance(organisation.get("name"), str):
            raise ApiError(
                422, "Give the organisation as an object with a name, or null.", "organisation"
            )
        else:
            check_fields(organisation, ORGANISATION_FIELDS)
            changes["organisation"] = OrganisationInput(
                name=organisation["name"],
                kind=str(organisation.get("kind") or "other"),
                economy=str(organisation.get("economy") or ""),
                website=str(organisation.get("website") or ""),
            )
    return replace(current, **changes)


def evidence_input(data: Mapping[str, Any], current: EvidenceInput | None = None) -> EvidenceInput:
    """Return an evidence item's fields from a body, over the current ones for PATCH."""
    check_fields(data, EVIDENCE_FIELDS)
    base = current or EvidenceInput(kind="", title="")
    changes: dict[str, Any] = {}
    for key in ("kind", "title", "text", "url"):
        if key in data:
            if not isinstance(data[key], str):
                raise ApiError(422, "Give text here.", key)
            changes[key] = data[key]
    if "year" in data:
        changes["year"] = (
            None
            if data["year"] is None
            else integer(data["year"], "year", default=0, low=1900, high=2100)
        )
    return replace(base, **changes)
