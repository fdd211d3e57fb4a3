"""Demo data written for PartnerMatch: fictional SMEs and experts across the 21 APEC economies.

The profiles live in the JSONL files beside this module, one profile a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from partnermatch.auth import services as accounts
from partnermatch.auth.models import Role, User
from partnermatch.demo.forum import load_demo_forum, load_past_forum
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.profiles import transfer
from partnermatch.profiles.models import Profile

DEMO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DemoAccount:
    email: str
    display_name: str
    role: Role
    profile_external_id: str | None = None


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "sme@example.org", "Demo SME (die-casting)", Role.SME, "demo-sme-tw-aluminium-diecasting"
    ),
    DemoAccount(
        "expert@example.org",
        "Demo expert (topology optimisation)",
        Role.EXPERT,
        "demo-expert-jp-topology-optimisation",
    ),
    DemoAccount("coordinator@example.org", "Demo coordinator", Role.COORDINATOR),
    DemoAccount("admin@example.org", "Demo admin", Role.ADMIN),
)


@dataclass
class DemoReport:
    profiles_created: int = 0
    profiles_present: int = 0
    accounts_created: int = 0
    forum_created: bool = False
    past_forum_created: bool = False
    errors: list[str] = field(default_factory=list)


def demo_records() -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (file name, line number, record) for every demo profile."""
    for path in sorted(DEMO_DIR.glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield path.name, number, json.loads(line)


def is_database_empty() -> bool:
    """Tell whether the database holds no profile and no account yet."""
    return not (
        db.session.scalar(select(func.count(Profile.id)))
        or db.session.scalar(select(func.count(User.id)))
    )


def load_demo(password: str) -> DemoReport:
    """Create the demo profiles and accounts that are missing; leave existing ones as they are."""
    report = DemoReport()
    existing = set(
        db.session.scalars(select(Profile.external_id).where(Profile.external_id.is_not(None)))
    )
    for file_name, line_number, record in demo_records():
        if record.get("external_id") in existing:
            report.profiles_present += 1
            continue
        try:
            with db.session.begin_nested():
                transfer.create_from_record(record)
        except ValidationError as error:
            report.errors.append(f"{file_name}:{line_number}: {error}")
        else:
            report.profiles_created += 1
    for account in DEMO_ACCOUNTS:
        user = accounts.find_user_by_email(account.email)
        if user is None:
            user = accounts.create_user(account.email, password, account.display_name, account.role)
            report.accounts_created += 1
        if account.profile_external_id and user.profile is None:
            profile = db.session.scalar(
                select(Profile).where(Profile.external_id == account.profile_external_id)
            )
            if profile is not None and profile.owner is None:
                profile.owner = user
                profile.contact_email = account.email
    db.session.flush()
    report.forum_created = load_demo_forum()
    coordinator = accounts.find_user_by_email("coordinator@example.org")
    report.past_forum_created = load_past_forum(
        coordinator if coordinator is not None and coordinator.is_staff else None
    )
    return report
