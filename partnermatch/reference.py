"""Controlled vocabularies: economies, sectors, value-chain positions and the small enums.

Forms, templates, the importer and the API all read their choices from here, and the models
validate against it, so a code is valid everywhere or nowhere.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TypeVar

import pycountry

from partnermatch.errors import ValidationError

E = TypeVar("E", bound=StrEnum)

# pycountry's gettext catalogue for each interface locale that differs from its name there.
ISO_CATALOGUE_LOCALES = {"zh_Hant": "zh_TW"}


def N_(message: str) -> str:
    """Mark an English label for translation; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Term:
    code: str
    label: str
    description: str = ""
    # A word of the label that readers may not know, explained where the label is shown.
    note: str = ""


@dataclass(frozen=True)
class Economy:
    code: str
    name: str
    apec: bool


# APEC speaks of member economies, and names several differently from ISO 3166.
APEC_ECONOMY_NAMES: dict[str, str] = {
    "AU": N_("Australia"),
    "BN": N_("Brunei Darussalam"),
    "CA": N_("Canada"),
    "CL": N_("Chile"),
    "CN": N_("People's Republic of China"),
    "HK": N_("Hong Kong, China"),
    "ID": N_("Indonesia"),
    "JP": N_("Japan"),
    "KR": N_("Republic of Korea"),
    "MY": N_("Malaysia"),
    "MX": N_("Mexico"),
    "NZ": N_("New Zealand"),
    "PG": N_("Papua New Guinea"),
    "PE": N_("Peru"),
    "PH": N_("The Philippines"),
    "RU": N_("Russia"),
    "SG": N_("Singapore"),
    "TW": N_("Chinese Taipei"),
    "TH": N_("Thailand"),
    "US": N_("United States"),
    "VN": N_("Viet Nam"),
}

# Everyday names that neither APEC nor ISO use but people type.
ECONOMY_ALIASES: dict[str, str] = {
    "taiwan": "TW",
    "vietnam": "VN",
    "south korea": "KR",
    "korea": "KR",
    "china": "CN",
    "prc": "CN",
    "hong kong": "HK",
    "philippines": "PH",
    "usa": "US",
    "united states of america": "US",
    "uk": "GB",
    "great britain": "GB",
    "brunei": "BN",
}

SECTORS: tuple[Term, ...] = (
    Term(
        "metal",
        N_("Metal technology"),
        "Casting, forging, machining, surface treatment, metal products.",
    ),
    Term(
        "green-vehicles",
        N_("Green vehicles"),
        "Electric and hybrid vehicles, e-scooters, batteries, charging.",
    ),
    Term(
        "ict-its",
        N_("ICT and intelligent transport"),
        "Software, connectivity, traffic and mobility systems.",
    ),
    Term(
        "cultural-creative",
        N_("Cultural and creative industries"),
        'Design, crafts, media and "dechnology" (design + technology).',
    ),
    Term(
        "machinery",
        N_("Machinery"),
        "Machine tools, automation, robotics and industrial equipment.",
    ),
    Term(
        "electronics", N_("Electronics"), "Semiconductors, components, boards and embedded systems."
    ),
    Term("energy", N_("Energy"), "Renewables, storage, grids and energy efficiency."),
    Term(
        "biotech-health",
        N_("Biotech and health"),
        "Medical devices, pharmaceuticals, diagnostics and life sciences.",
    ),
    Term(
        "agri-food",
        N_("Agriculture and food"),
        "Farming, food processing, cold chain and agri-tech.",
    ),
    Term("textiles", N_("Textiles"), "Fibres, fabrics, garments and technical textiles."),
    Term("other", N_("Other"), "Any sector not listed above."),
)

VALUE_CHAIN: tuple[Term, ...] = (
    Term("materials", N_("Materials"), "Raw and engineered materials."),
    Term("processing", N_("Processing"), "Casting, forming, machining, treatment."),
    Term("components", N_("Components"), "Parts and sub-assemblies."),
    Term("integration", N_("Integration and assembly"), "Systems and finished products."),
    Term("distribution", N_("Distribution"), "Sales channels, logistics and export."),
    Term(
        "after-sales",
        N_("After-sales and recycling"),
        "Service, maintenance, refurbishing, recycling.",
    ),
    Term("r-and-d", N_("Research and development"), "Applied research and technology transfer."),
    Term(
        "design",
        N_("Design and dechnology"),
        "Product, industrial and cultural-creative design.",
        note=N_("“Dechnology” is the APEC forum's word for design + technology."),
    ),
    Term("testing", N_("Testing and certification"), "Laboratories, standards and certification."),
    Term("policy-funding", N_("Policy and funding"), "Programmes, grants, finance and regulation."),
)
# The first six form the chain from raw material to recycling; the rest support it.
CHAIN_POSITIONS: tuple[str, ...] = tuple(term.code for term in VALUE_CHAIN[:6])


class ProfileKind(StrEnum):
    SME = "sme"
    EXPERT = "expert"


class Affiliation(StrEnum):
    INDUSTRY = "industry"
    GOVERNMENT = "government"
    ACADEMIA = "academia"
    RESEARCH = "research"


class OrganisationKind(StrEnum):
    SME = "sme"
    COMPANY = "company"
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    GOVERNMENT = "government"
    OTHER = "other"


class EvidenceKind(StrEnum):
    PUBLICATION = "publication"
    PROJECT = "project"
    PRODUCT = "product"
    PATENT = "patent"
    OTHER = "other"


LABELS: dict[type[StrEnum], dict[str, str]] = {
    ProfileKind: {"sme": N_("SME"), "expert": N_("Expert")},
    Affiliation: {
        "industry": N_("Industry"),
        "government": N_("Government"),
        "academia": N_("Academia"),
        "research": N_("Research institute"),
    },
    OrganisationKind: {
        "sme": N_("SME"),
        "company": N_("Company"),
        "university": N_("University"),
        "research_institute": N_("Research institute"),
        "government": N_("Government body"),
        "other": N_("Other"),
    },
    EvidenceKind: {
        "publication": N_("Publication"),
        "project": N_("Project"),
        "product": N_("Product"),
        "patent": N_("Patent"),
        "other": N_("Other"),
    },
}


def label(enum_cls: type[StrEnum], value: str) -> str:
    """Return the display label of an enum value."""
    return LABELS[enum_cls].get(str(value), str(value))


def choices(enum_cls: type[StrEnum]) -> list[tuple[str, str]]:
    """Return (value, label) pairs for a form field."""
    return [(member.value, label(enum_cls, member.value)) for member in enum_cls]


def coerce_enum(enum_cls: type[E], value: str | E, field: str) -> E:
    """Return the enum member for a value, or raise a ValidationError naming the field."""
    try:
        return enum_cls(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum_cls)
        raise ValidationError(field, f"Unknown value '{value}': use one of {allowed}.") from None


# --- economies -------------------------------------------------------------------------


@cache
def economies() -> tuple[Economy, ...]:
    """Return every economy: the 21 APEC members first, then the rest, each by name."""
    apec = [Economy(code, name, True) for code, name in APEC_ECONOMY_NAMES.items()]
    others = [
        Economy(country.alpha_2, getattr(country, "common_name", None) or country.name, False)
        for country in pycountry.countries
        if country.alpha_2 not in APEC_ECONOMY_NAMES
    ]
    return tuple(sorted(apec, key=lambda e: e.name) + sorted(others, key=lambda e: e.name))


@cache
def _economies_by_code() -> dict[str, Economy]:
    return {economy.code: economy for economy in economies()}


@cache
def _economy_lookup() -> dict[str, str]:
    """Map every lower-cased code and name we accept to an alpha-2 code."""
    lookup: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if value:
                lookup.setdefault(value.lower(), country.alpha_2)
    for code, name in APEC_ECONOMY_NAMES.items():
        lookup[name.lower()] = code
    lookup["philippines"] = "PH"
    lookup.update(ECONOMY_ALIASES)
    return lookup


def normalise_economy(value: str, field: str = "economy") -> str:
    """Return the alpha-2 code for a code or name (any case), or raise ValidationError."""
    key = " ".join(str(value or "").split()).lower()
    if not key:
        raise ValidationError(field, "Give an economy, as a name (Viet Nam) or a code (VN).")
    try:
        return _economy_lookup()[key]
    except KeyError:
        raise ValidationError(
            field,
            f"Unknown economy '{value}': use a name such as 'Viet Nam' or a code such as 'VN'.",
        ) from None


def economy(code: str) -> Economy | None:
    """Return the economy with this alpha-2 code, or None."""
    return _economies_by_code().get(code)


def economy_name(code: str) -> str:
    """Return the display name of an alpha-2 code (APEC's name for members)."""
    found = economy(code)
    return found.name if found else code


@cache
def _iso_translations(locale: str) -> gettext.NullTranslations:
    return gettext.translation(
        "iso3166-1",
        pycountry.LOCALES_DIR,
        languages=[ISO_CATALOGUE_LOCALES.get(locale, locale)],
        fallback=True,
    )


def iso_economy_name(code: str, locale: str) -> str | None:
    """Return the ISO 3166 name of an economy in a language, from pycountry's catalogues.

    None when pycountry has no translation: the caller keeps the English name. APEC members
    keep APEC's names, which the interface catalogue translates.
    """
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return None
    translations = _iso_translations(locale)
    for name in (getattr(country, "common_name", None), country.name):
        if name and translations.gettext(name) != name:
            return translations.gettext(name)
    return None


def is_apec(code: str) -> bool:
    """Tell whether an alpha-2 code is one of the 21 APEC member economies."""
    return code in APEC_ECONOMY_NAMES


# --- sectors and value chain -------------------------------------------------------------

SECTOR_CODES: tuple[str, ...] = tuple(term.code for term in SECTORS)
VALUE_CHAIN_CODES: tuple[str, ...] = tuple(term.code for term in VALUE_CHAIN)
_SECTORS_BY_CODE = {term.code: term for term in SECTORS}
_VALUE_CHAIN_BY_CODE = {term.code: term for term in VALUE_CHAIN}


def sector(code: str) -> Term | None:
    """Return the sector with this code, or None."""
    return _SECTORS_BY_CODE.get(code)


def value_chain_position(code: str) -> Term | None:
    """Return the value-chain position with this code, or None."""
    return _VALUE_CHAIN_BY_CODE.get(code)


def check_codes(
    codes: list[str] | tuple[str, ...], allowed: tuple[str, ...], field: str
) -> list[str]:
    """Return the codes de-duplicated in vocabulary order, or raise on an unknown one."""
    cleaned = {str(code).strip().lower() for code in codes if str(code).strip()}
    unknown = sorted(cleaned - set(allowed))
    if unknown:
        raise ValidationError(
            field,
            f"Unknown code {', '.join(repr(u) for u in unknown)}: use one of {', '.join(allowed)}.",
        )
    return [code for code in allowed if code in cleaned]


def check_sectors(codes: list[str] | tuple[str, ...], field: str = "sectors") -> list[str]:
    """Validate sector codes and return them in vocabulary order."""
    return check_codes(codes, SECTOR_CODES, field)


def check_value_chain(codes: list[str] | tuple[str, ...], field: str = "value_chain") -> list[str]:
    """Validate value-chain codes and return them in chain order."""
    return check_codes(codes, VALUE_CHAIN_CODES, field)


# --- languages -------------------------------------------------------------------------


def normalise_languages(values: Iterable[str], field_name: str = "languages") -> list[str]:
    """Return ISO 639-1 codes for language codes or English names, or raise ValidationError."""
    codes: list[str] = []
    for value in values:
        language = pycountry.languages.get(alpha_2=value.lower()) if len(value) == 2 else None
        if language is None:
            try:
                language = pycountry.languages.lookup(value)
            except LookupError:
                language = None
        code = getattr(language, "alpha_2", None)
        if code is None:
            raise ValidationError(
                field_name,
                f"Unknown language '{value}': use a code such as 'en' or a name such as 'Thai'.",
            )
        if code not in codes:
            codes.append(code)
    return codes
