"""Rows for tests, with sensible defaults and every field overridable."""

from __future__ import annotations

import itertools
from typing import Any

from partnermatch.auth import services as accounts
from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from partnermatch.profiles import services as profiles
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import EvidenceInput, OrganisationInput, ProfileInput

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


def make_user(role: Role | str = Role.SME, email: str | None = None, **fields: Any) -> User:
    number = next(_sequence)
    user = accounts.create_user(
        email or f"user{number}@example.org",
        fields.pop("password", PASSWORD),
        fields.pop("display_name", f"User {number}"),
        role,
    )
    for name, value in fields.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def profile_input(**fields: Any) -> ProfileInput:
    defaults: dict[str, Any] = {
        "name": f"Profile {next(_sequence)}",
        "economy": "TW",
        "affiliation": "industry",
        "city": "Kaohsiung",
        "sectors": ("metal",),
        "value_chain": ("processing",),
        "summary": "Aluminium die casting for e-scooter motor housings.",
        "offers": "High-pressure die casting, CNC finishing.",
        "needs": "Lightweight design know-how.",
        "keywords": ("die casting",),
        "languages": ("en", "zh"),
        "contact_email": "private-contact@example.org",
    }
    defaults.update(fields)
    # Each profile gets an organisation of its own unless the test shares one on purpose.
    defaults.setdefault(
        "organisation", OrganisationInput(f"{defaults['name']} Co.", "sme", defaults["economy"])
    )
    return ProfileInput(**defaults)


def make_profile(
    kind: str = "sme", owner: User | None = None, evidence: int = 0, **fields: Any
) -> Profile:
    if kind == "expert":
        fields.setdefault("affiliation", "academia")
    profile = profiles.create_profile(kind, profile_input(**fields), owner=owner)
    for number in range(evidence):
        profiles.add_evidence(
            profile, EvidenceInput("publication", f"Paper {number + 1}", "An abstract.", 2020)
        )
    db.session.commit()
    return profile


def profile_form(**fields: Any) -> dict[str, Any]:
    """What a person fills in on the profile form (as posted), with `fields` changed."""
    data = {
        "name": "Saigon Precision Parts",
        "organisation_name": "Saigon Precision Parts Co.",
        "organisation_kind": "sme",
        "economy": "Viet Nam",
        "city": "Ho Chi Minh City",
        "sectors": ["metal", "green-vehicles"],
        "value_chain": ["components"],
        "summary": "CNC machining of e-scooter hubs.",
        "offers": "Five-axis machining.",
        "needs": "Battery pack design partners.",
        "keywords": "cnc, e-scooter, hubs",
        "languages": "vi, English",
        "website": "https://saigon-parts.example",
        "contact_email": "sales@saigon-parts.example",
    }
    data.update(fields)
    return data
