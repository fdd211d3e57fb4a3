"""Shortlists and CSV exports: the rules, no HTTP. Services flush; callers commit."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_, select

from partnermatch.auth.models import User
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.profiles import services as profiles
from partnermatch.profiles.models import Profile
from partnermatch.reference import economy_name
from partnermatch.review import services as review
from partnermatch.review.models import Match
from partnermatch.shortlists.models import ShortlistEntry


def add(user: User, profile: Profile) -> ShortlistEntry:
    """Put a live partner profile on the user's shortlist (again: the same entry)."""
    if profile.is_deleted:
        raise ValidationError("profile_id", "This profile was deleted.")
    if profile.owner_id == user.id:
        raise ValidationError("profile_id", "Your own profile cannot go on your shortlist.")
    entry = db.session.scalar(
        select(ShortlistEntry).where(
            ShortlistEntry.user_id == user.id, ShortlistEntry.profile_id == profile.id
        )
    )
    if entry is None:
        entry = ShortlistEntry(user_id=user.id, profile_id=profile.id)
        db.session.add(entry)
        db.session.flush()
    return entry


def remove(user: User, profile_id: int) -> bool:
    """Take a profile off the user's shortlist; return whether it was on it."""
    entry = db.session.scalar(
        select(ShortlistEntry).where(
            ShortlistEntry.user_id == user.id, ShortlistEntry.profile_id == profile_id
        )
    )
    if entry is None:
        return False
    db.session.delete(entry)
    db.session.flush()
    return True


def saved_ids(user: User | Any) -> set[int]:
    """The ids of the profiles on the user's shortlist (none for a visitor)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(
        db.session.scalars(
            select(ShortlistEntry.profile_id).where(ShortlistEntry.user_id == user.id)
        )
    )


def _entries(user: User) -> Any:
    return (
        select(ShortlistEntry)
        .join(ShortlistEntry.profile)
        .where(ShortlistEntry.user_id == user.id, profiles.live())
        .order_by(ShortlistEntry.created_at.desc(), ShortlistEntry.id.desc())
    )


def entries_page(user: User, page: int, per_page: int) -> Pagination:
    """A page of the user's shortlist, last saved first (deleted profiles left out)."""
    return db.paginate(_entries(user), page=page, per_page=per_page, error_out=False)


def entries(user: User) -> list[ShortlistEntry]:
    """The user's whole shortlist, last saved first."""
    return list(db.session.scalars(_entries(user)))


def entry_record(entry: ShortlistEntry) -> dict[str, Any]:
    """One shortlist entry as the API shows it (the OpenAPI SHORTLIST_ENTRY schema)."""
    profile = entry.profile
    return {
        "profile_id": profile.id,
        "name": profile.name,
        "kind": profile.kind.value,
        "economy": profile.economy,
        "saved_at": entry.created_at.isoformat(),
    }


# --- CSV export ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "name",
    "kind",
    "economy",
    "sectors",
    "value_chain_positions",
    "score",
    "profile_url",
    "contact_email",
)
# A cell a spreadsheet would read as a formula (OWASP's list: = + - @, and tab or return).
FORMULA_START = re.compile(r"^[=+\-@\t\r]")


@dataclass(frozen=True)
class ExportRow:
    profile: Profile
    score: float | None = None


def contact_visible_ids(user: User | Any, candidates: Sequence[Profile]) -> set[int]:
    """The profiles whose contact email this reader may see: their own and, for staff,
    every one (profiles.can_see_contact); otherwise those of a match with the reader's
    profile whose contacts are shared (review.can_see_contacts)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    visible = {p.id for p in candidates if profiles.can_see_contact(user, p)}
    own = getattr(user, "profile", None)
    if own is None:
        return visible
    ids = [p.id for p in candidates if p.id not in visible]
    if not ids:
        return visible
    matches = db.session.scalars(
        select(Match).where(
            or_(
                (Match.sme_profile_id == own.id) & Match.partner_profile_id.in_(ids),
                (Match.partner_profile_id == own.id) & Match.sme_profile_id.in_(ids),
            )
        )
    )
    for match in matches:
        if review.can_see_contacts(match, user):
            other = (
                match.partner_profile_id if match.sme_profile_id == own.id else match.sme_profile_id
            )
            visible.add(other)
    return visible


def safe_cell(value: str) -> str:
    """Defuse a cell a spreadsheet would run as a formula, with a leading apostrophe."""
    return "'" + value if FORMULA_START.match(value) else value


def export_csv(rows: Iterable[ExportRow], reader: User | Any, profile_url: Any) -> str:
    """Write profiles as CSV (UTF-8 with a BOM, so Excel reads the names right).

    `profile_url(profile)` returns each profile's address; the contact email is filled only
    where the reader may see it.
    """
    rows = list(rows)
    visible = contact_visible_ids(reader, [row.profile for row in rows])
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        profile = row.profile
        cells = (
            profile.name,
            profile.kind.value,
            economy_name(profile.economy),
            "; ".join(profile.sectors),
            "; ".join(profile.value_chain),
            "" if row.score is None else f"{row.score:.3f}",
            profile_url(profile),
            profile.contact_email if profile.id in visible else "",
        )
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


def csv_filename(stem: str) -> str:
    """A filename safe in a Content-Disposition header: letters, digits, - and _ only."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "-", stem).strip("-")[:60]
    return f"{cleaned or 'partnermatch'}.csv"
