"""Profile rules: create, update, delete, evidence, browse and facets. No HTTP; callers commit."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from partnermatch import reference
from partnermatch.auth.models import Role, User
from partnermatch.errors import PermissionDenied, ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.profiles.models import (
    EvidenceItem,
    Organisation,
    Profile,
    ProfileSector,
    ProfileValueChain,
)
from partnermatch.profiles.schema import (
    MAX_CAPACITY,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS,
    MAX_LENGTHS,
    EvidenceInput,
    OrganisationInput,
    ProfileInput,
    profile_input_of,
)
from partnermatch.reference import N_, Affiliation, OrganisationKind, ProfileKind
from partnermatch.timeutil import utcnow

__all__ = ["MAX_CAPACITY", "EvidenceInput", "OrganisationInput", "ProfileInput"]

PROFILE_KIND_FOR_ROLE = {Role.SME: ProfileKind.SME, Role.EXPERT: ProfileKind.EXPERT}


@dataclass(frozen=True)
class ProfileFilters:
    text: str = ""
    kind: str | None = None
    affiliations: tuple[str, ...] = ()
    economies: tuple[str, ...] = ()
    exclude_economies: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    value_chain: tuple[str, ...] = ()
    exclude_profiles: tuple[int, ...] = ()
    among: tuple[int, ...] | None = None  # only these profiles (an event's participants)


@dataclass
class FacetValue:
    code: str
    label: str
    count: int
    selected: bool


@dataclass
class Facets:
    kind: list[FacetValue] = field(default_factory=list)
    affiliations: list[FacetValue] = field(default_factory=list)
    economies: list[FacetValue] = field(default_factory=list)
    sectors: list[FacetValue] = field(default_factory=list)
    value_chain: list[FacetValue] = field(default_factory=list)


# --- permissions ---------------------------------------------------------------------------


def can_edit_profile(user: User | Any, profile: Profile) -> bool:
    """Owners edit their own profile; coordinators and admins edit any."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_staff or (profile.owner_id is not None and profile.owner_id == user.id)


def can_see_contact(user: User | Any, profile: Profile) -> bool:
    """The private contact email is for the owner and the programme's staff only."""
    return can_edit_profile(user, profile)


def check_can_edit(user: User, profile: Profile) -> None:
    """Raise PermissionDenied unless the user may change this profile."""
    if not can_edit_profile(user, profile):
        raise PermissionDenied(f"{user.email} may not change profile {profile.id}")


# --- completeness --------------------------------------------------------------------------

# What a complete profile has, each with how the prompt names it (translated where shown).
MISSING_LABELS = {
    "sectors": N_("its sectors"),
    "value_chain": N_("its value-chain positions"),
    "description": N_("a description of what it does, offers or needs"),
}


def profile_missing(profile: Profile) -> list[str]:
    """Return the codes of what a profile lacks to be complete (empty when it is complete).

    Codes, in the order of MISSING_LABELS: "sectors" and "value_chain" (filters and the
    value-chain factor of recommendations cannot place it), "description" (no summary,
    offers or needs: search and recommendations have nothing to read but its name).
    """
    missing = []
    if not profile.sector_rows:
        missing.append("sectors")
    if not profile.value_chain_rows:
        missing.append("value_chain")
    if not (profile.summary or profile.offers or profile.needs):
        missing.append("description")
    return missing


# --- validation ----------------------------------------------------------------------------


def _text(value: Any, field_name: str, *, required: bool = False) -> str:
    return clean_text(value, field_name, max_length=MAX_LENGTHS.get(field_name), required=required)


def _url(value: Any, field_name: str) -> str:
    url = _text(value, field_name)
    if url and not re.match(r"^https?://[^\s/$.?#][^\s]*$", url, re.IGNORECASE):
        raise ValidationError(field_name, "Give a full web address starting with https://.")
    return url


def _email(value: Any, field_name: str) -> str:
    email = _text(value, field_name)
    if not email:
        return ""
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValidationError(field_name, str(error)) from None


def _string_list(values: Any, field_name: str) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Iterable):
        raise ValidationError(field_name, "Give a list of values.")
    cleaned: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise ValidationError(field_name, "Give a list of text values.")
        value = " ".join(clean_text(value, field_name).split())
        if value and value.lower() not in (c.lower() for c in cleaned):
            cleaned.append(value)
    return cleaned


def normalise_keywords(values: Any, field_name: str = "keywords") -> list[str]:
    """Return keywords trimmed, de-duplicated and bounded in number and length."""
    keywords = _string_list(values, field_name)
    if len(keywords) > MAX_KEYWORDS:
        raise ValidationError(field_name, f"Use at most {MAX_KEYWORDS} keywords.")
    if any(len(keyword) > MAX_KEYWORD_LENGTH for keyword in keywords):
        raise ValidationError(
            field_name, f"Keep each keyword under {MAX_KEYWORD_LENGTH} characters."
        )
    return keywords


def _clean_organisation(organisation: OrganisationInput, economy: str) -> OrganisationInput:
    return OrganisationInput(
        name=_text(organisation.name, "organisation_name", required=True),
        kind=reference.coerce_enum(OrganisationKind, organisation.kind, "organisation_kind"),
        economy=reference.normalise_economy(
            organisation.economy or economy, "organisation_economy"
        ),
        website=_url(organisation.website, "organisation_website"),
    )


def _apply_profile_input(profile: Profile, kind: ProfileKind, data: ProfileInput) -> None:
    """Validate every field first, then write: a bad field leaves the profile untouched."""
    economy = reference.normalise_economy(data.economy)
    affiliation = reference.coerce_enum(Affiliation, data.affiliation, "affiliation")
    if kind is ProfileKind.SME and affiliation is not Affiliation.INDUSTRY:
        raise ValidationError("affiliation", "An SME profile belongs to industry.")
    # A profile may lack sectors and positions (an imported list of researchers has
    # neither): it is stored, marked incomplete (profile_missing), and its owner prompted.
    # The profile form asks people for both.
    sectors = reference.check_sectors(list(data.sectors))
    value_chain = reference.check_value_chain(list(data.value_chain))
    cleaned = {
        "name": _text(data.name, "name", required=True),
        "city": _text(data.city, "city"),
        "summary": _text(data.summary, "summary"),
        "offers": _text(data.offers, "offers"),
        "needs": _text(data.needs, "needs"),
        "website": _url(data.website, "website"),
        "contact_email": _email(data.contact_email, "contact_email"),
    }
    capacity = data.introduction_capacity
    if capacity is not None and (
        isinstance(capacity, bool)
        or not isinstance(capacity, int)
        or not 0 <= capacity <= MAX_CAPACITY
    ):
        raise ValidationError(
            "introduction_capacity",
            f"Give a number of introductions from 0 to {MAX_CAPACITY}, or leave it empty.",
        )
    keywords = normalise_keywords(data.keywords)
    languages = reference.normalise_languages(_string_list(data.languages, "languages"))
    organisation = (
        _clean_organisation(data.organisation, economy)
        if data.organisation and data.organisation.name.strip()
        else None
    )

    profile.kind = kind
    profile.economy = economy
    profile.affiliation = affiliation
    for name, value in cleaned.items():
        setattr(profile, name, value)
    profile.sectors = sectors
    profile.value_chain = value_chain
    profile.keywords = keywords
    profile.languages = languages
    profile.introduction_capacity = capacity
    profile.organisation = get_or_create_organisation(organisation) if organisation else None


def get_or_create_organisation(data: OrganisationInput) -> Organisation:
    """Return the organisation with this name in this economy, creating it if new."""
    organisation = db.session.scalar(
        select(Organisation).where(
            func.lower(Organisation.name) == data.name.lower(),
            Organisation.economy == data.economy,
        )
    )
    if organisation is None:
        organisation = Organisation(
            name=data.name, kind=data.kind, economy=data.economy, website=data.website
        )
        db.session.add(organisation)
    elif data.website and not organisation.website:
        organisation.website = data.website
    return organisation


# --- profiles ------------------------------------------------------------------------------


def profile_kind_for(user: User) -> ProfileKind:
    """Return the kind of profile a user keeps, or raise if their role keeps none."""
    try:
        return PROFILE_KIND_FOR_ROLE[user.role]
    except KeyError:
        raise ValidationError(
            "kind", "Only SME and expert accounts keep a profile of their own."
        ) from None


def create_profile(
    kind: ProfileKind | str,
    data: ProfileInput,
    *,
    owner: User | None = None,
    external_id: str | None = None,
) -> Profile:
    """Create a profile, owned by a user or (for imports) by nobody."""
    kind = reference.coerce_enum(ProfileKind, kind, "kind")
    if owner is not None:
        if profile_kind_for(owner) is not kind:
            raise ValidationError(
                "kind",
                f"A {owner.role.label} account keeps a {profile_kind_for(owner).value} profile.",
            )
        if owner.profile is not None:
            raise ValidationError("owner", "This account already has a profile.")
    if external_id is not None:
        external_id = _text(external_id, "external_id", required=True)
        if db.session.scalar(select(Profile.id).where(Profile.external_id == external_id)):
            raise ValidationError(
                "external_id", f"A profile with external id '{external_id}' exists."
            )
    profile = Profile(external_id=external_id, owner=owner)
    with db.session.no_autoflush:
        _apply_profile_input(profile, kind, data)
    db.session.add(profile)
    db.session.flush()
    return profile


def update_profile(profile: Profile, data: ProfileInput) -> Profile:
    """Replace a profile's editable fields; its kind, owner and external id stay."""
    with db.session.no_autoflush:
        _apply_profile_input(profile, profile.kind, data)
    db.session.flush()
    return profile


# How long a deleted profile can be restored before `profiles purge-deleted` removes it.
RESTORE_DAYS = 30


def live() -> Any:
    """The condition a profile meets until it is deleted (what every listing shows)."""
    return Profile.deleted_at.is_(None)


def programme_economies() -> set[str]:
    """Return the codes of the economies that live profiles are from."""
    return set(db.session.scalars(select(Profile.economy).where(live()).distinct()))


def delete_profile(profile: Profile) -> None:
    """Delete a profile softly: hidden everywhere, restorable for RESTORE_DAYS.

    The change journals the profile like any edit, so the search index drops it."""
    if profile.deleted_at is None:
        profile.deleted_at = utcnow()
        db.session.flush()


def restore_profile(profile: Profile) -> None:
    """Bring a deleted profile back, into search and recommendations too."""
    profile.deleted_at = None
    db.session.flush()


def restore_deadline(profile: Profile) -> datetime | None:
    """Return when a deleted profile will be purged (None for a live profile)."""
    if profile.deleted_at is None:
        return None
    return profile.deleted_at + timedelta(days=RESTORE_DAYS)


def deleted_profiles(page: int, per_page: int) -> Pagination:
    """Deleted profiles not purged yet, the most recently deleted first."""
    query = (
        select(Profile)
        .where(Profile.deleted_at.is_not(None))
        .options(selectinload(Profile.organisation), selectinload(Profile.owner))
        .order_by(Profile.deleted_at.desc(), Profile.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def purge_deleted_profiles(now: datetime | None = None) -> int:
    """Remove for good the profiles deleted more than RESTORE_DAYS ago; return how many."""
    cutoff = (now or utcnow()) - timedelta(days=RESTORE_DAYS)
    expired = list(db.session.scalars(select(Profile).where(Profile.deleted_at < cutoff)))
    for profile in expired:
        db.session.delete(profile)
    db.session.flush()
    return len(expired)


def purge_profile(profile: Profile) -> None:
    """Remove a deleted profile for good now, before its RESTORE_DAYS are over."""
    if profile.deleted_at is None:
        raise ValidationError("profile", "Only a deleted profile can be purged.")
    db.session.delete(profile)
    db.session.flush()


def profile_input_for(profile: Profile) -> ProfileInput:
    """Return the editable fields of a profile, to prefill a form or patch a few fields."""
    return profile_input_of(profile)


# --- evidence ------------------------------------------------------------------------------


def _clean_evidence(data: EvidenceInput) -> dict[str, Any]:
    year = data.year
    if year is not None and (
        isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100
    ):
        raise ValidationError("year", "Give a year between 1900 and 2100, or leave it empty.")
    return {
        "kind": reference.coerce_enum(reference.EvidenceKind, data.kind, "kind"),
        "title": _text(data.title, "title", required=True),
        "text": _text(data.text, "text"),
        "year": year,
        "url": _url(data.url, "url"),
    }


def add_evidence(profile: Profile, data: EvidenceInput) -> EvidenceItem:
    """Add a publication, project, product or patent to a profile."""
    item = EvidenceItem(**_clean_evidence(data))
    profile.evidence.append(item)
    db.session.flush()
    return item


def update_evidence(item: EvidenceItem, data: EvidenceInput) -> EvidenceItem:
    """Replace an evidence item's fields."""
    for name, value in _clean_evidence(data).items():
        setattr(item, name, value)
    db.session.flush()
    return item


def remove_evidence(item: EvidenceItem) -> None:
    """Remove an evidence item from its profile."""
    db.session.delete(item)
    db.session.flush()


# --- browsing ------------------------------------------------------------------------------


def escape_like(term: str) -> str:
    """Escape LIKE wildcards in a search term (the queries pass escape="\\")."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered_ids(filters: ProfileFilters) -> Select:
    """Select the ids of the profiles that pass every filter (the text filter by substring)."""
    query = select(Profile.id).where(live())
    if filters.kind:
        query = query.where(Profile.kind == filters.kind)
    if filters.affiliations:
        query = query.where(Profile.affiliation.in_(filters.affiliations))
    if filters.economies:
        query = query.where(Profile.economy.in_(filters.economies))
    if filters.exclude_economies:
        query = query.where(Profile.economy.not_in(filters.exclude_economies))
    if filters.exclude_profiles:
        query = query.where(Profile.id.not_in(filters.exclude_profiles))
    if filters.among is not None:
        query = query.where(Profile.id.in_(filters.among))
    if filters.sectors:
        query = query.where(
            Profile.id.in_(
                select(ProfileSector.profile_id).where(ProfileSector.code.in_(filters.sectors))
            )
        )
    if filters.value_chain:
        query = query.where(
            Profile.id.in_(
                select(ProfileValueChain.profile_id).where(
                    ProfileValueChain.code.in_(filters.value_chain)
                )
            )
        )
    for term in filters.text.split():
        pattern = f"%{escape_like(term)}%"
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (
                        Profile.name,
                        Profile.city,
                        Profile.summary,
                        Profile.offers,
                        Profile.needs,
                    )
                ),
                Profile.organisation.has(Organisation.name.ilike(pattern, escape="\\")),
            )
        )
    return query


def filtered_profile_ids(filters: ProfileFilters) -> list[int]:
    """Return the ids of the profiles that pass the filters."""
    return list(db.session.scalars(_filtered_ids(filters)))


def browse_profiles(filters: ProfileFilters, page: int, per_page: int) -> Pagination:
    """Return one page of the profiles that pass the filters, most recently updated first."""
    query = (
        select(Profile)
        .where(Profile.id.in_(_filtered_ids(filters)))
        .order_by(Profile.updated_at.desc(), Profile.id.desc())
        # What each card shows, in a query each rather than one per profile.
        .options(
            selectinload(Profile.organisation),
            selectinload(Profile.sector_rows),
            selectinload(Profile.value_chain_rows),
        )
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def _counts(column: Any, ids: Select, profile_id: Any = Profile.id) -> dict[str, int]:
    query = select(column, func.count()).where(profile_id.in_(ids)).group_by(column)
    return {str(code): count for code, count in db.session.execute(query)}


def facet_counts(filters: ProfileFilters) -> Facets:
    """Count profiles per facet value, each facet ignoring its own selection."""
    by_kind = _counts(Profile.kind, _filtered_ids(replace(filters, kind=None)))
    by_affiliation = _counts(Profile.affiliation, _filtered_ids(replace(filters, affiliations=())))
    by_economy = _counts(Profile.economy, _filtered_ids(replace(filters, economies=())))
    by_sector = _counts(
        ProfileSector.code, _filtered_ids(replace(filters, sectors=())), ProfileSector.profile_id
    )
    by_position = _counts(
        ProfileValueChain.code,
        _filtered_ids(replace(filters, value_chain=())),
        ProfileValueChain.profile_id,
    )
    return Facets(
        kind=[
            FacetValue(value, text, by_kind.get(value, 0), filters.kind == value)
            for value, text in reference.choices(ProfileKind)
        ],
        affiliations=[
            FacetValue(value, text, by_affiliation.get(value, 0), value in filters.affiliations)
            for value, text in reference.choices(Affiliation)
        ],
        economies=sorted(
            (
                FacetValue(code, reference.economy_name(code), count, code in filters.economies)
                for code, count in by_economy.items()
            ),
            key=lambda facet: facet.label,
        ),
        sectors=[
            FacetValue(
                term.code, term.label, by_sector.get(term.code, 0), term.code in filters.sectors
            )
            for term in reference.SECTORS
        ],
        value_chain=[
            FacetValue(
                term.code,
                term.label,
                by_position.get(term.code, 0),
                term.code in filters.value_chain,
            )
            for term in reference.VALUE_CHAIN
        ],
    )


@dataclass(frozen=True)
class ProgrammeCounts:
    smes: int
    experts: int
    economies: int
    organisations: int


def programme_counts() -> ProgrammeCounts:
    """Count what the programme holds, for the landing page."""
    by_kind = dict(
        db.session.execute(
            select(Profile.kind, func.count()).where(live()).group_by(Profile.kind)
        ).all()
    )
    return ProgrammeCounts(
        smes=by_kind.get(ProfileKind.SME, 0),
        experts=by_kind.get(ProfileKind.EXPERT, 0),
        economies=db.session.scalar(
            select(func.count(func.distinct(Profile.economy))).where(live())
        )
        or 0,
        organisations=db.session.scalar(select(func.count(Organisation.id))) or 0,
    )
