"""The index journal: every committed change to a profile leaves its id here.

Each process serving searches applies the entries past the last one it has seen, so an edit
made through one web worker is found by a search served by another, without a rebuild.
The entry is written in the same transaction as the change itself: a rolled-back edit
leaves no entry, and a committed one cannot be missed.

Readers rely on entries becoming visible in the order of their numbers. SQLite gives that for
free (one writer at a time). On PostgreSQL a transaction that drew seq 10 could commit after
one that drew seq 11, and a reader that had seen 11 would skip 10 for ever, so writers of the
journal take a transaction-scoped advisory lock before drawing a number: journal writes
commit one after another, in seq order. Profile edits are rare enough for that queue.
"""

from __future__ import annotations

from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import DateTime, delete, event, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from partnermatch.extensions import db
from partnermatch.profiles.models import EvidenceItem, Profile, ProfileSector, ProfileValueChain
from partnermatch.timeutil import utcnow

# Any fixed 64-bit number, the same in every process: the key of the journal writers' queue.
JOURNAL_LOCK_KEY = 0x5041_524E_4A52  # "PARNJR"


class IndexJournalEntry(db.Model):
    __tablename__ = "index_journal"
    # AUTOINCREMENT: SQLite would otherwise reuse the highest seq after old entries are pruned.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    profile_id: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _changed_profile_ids(session: Session) -> set[int]:
    changed: set[int] = set()
    for instance in chain(session.new, session.dirty, session.deleted):
        if isinstance(instance, Profile):
            changed.add(instance.id)
        elif isinstance(instance, EvidenceItem | ProfileSector | ProfileValueChain):
            changed.add(instance.profile_id)
    changed.discard(None)  # type: ignore[arg-type]
    return changed


def _record_changes(session: Session, _flush_context: Any) -> None:
    changed = _changed_profile_ids(session)
    if changed:
        if session.connection().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": JOURNAL_LOCK_KEY})
        now = utcnow()
        session.execute(
            insert(IndexJournalEntry),
            [{"profile_id": pid, "created_at": now} for pid in sorted(changed)],
        )


def start_journal() -> None:
    """Record profile changes in the journal on every flush (once per process)."""
    if not event.contains(Session, "after_flush", _record_changes):
        event.listen(Session, "after_flush", _record_changes)


def latest_seq() -> int:
    """Return the newest journal entry's number (0 when empty)."""
    return db.session.scalar(select(func.max(IndexJournalEntry.seq))) or 0


def changed_since(seq: int, until: int) -> list[int]:
    """Return the profile ids changed in entries (seq, until]."""
    return list(
        db.session.scalars(
            select(IndexJournalEntry.profile_id)
            .where(IndexJournalEntry.seq > seq, IndexJournalEntry.seq <= until)
            .distinct()
        )
    )


def prune(up_to: int) -> None:
    """Delete the entries that a snapshot already includes."""
    db.session.execute(delete(IndexJournalEntry).where(IndexJournalEntry.seq <= up_to))
