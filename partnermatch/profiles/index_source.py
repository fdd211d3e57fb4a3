"""The engine's view of the programme's database (partnermatch.matching.source)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from partnermatch.extensions import db
from partnermatch.matching import journal
from partnermatch.matching.passages import profile_passages
from partnermatch.matching.source import ProfilePassages
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters, filtered_profile_ids, live


class SqlProfileSource:
    """Profiles, filters and the index journal, read through the app's session.

    A deleted profile (restorable for a while, see services.delete_profile) is not among the
    profiles: the engine drops its passages when the journal names it, and takes them back
    when a restore names it again.
    """

    def profile_ids(self) -> list[int]:
        return list(db.session.scalars(select(Profile.id).where(live()).order_by(Profile.id)))

    def profile_count(self) -> int:
        return db.session.scalar(select(func.count(Profile.id)).where(live())) or 0

    def profiles(self, profile_ids: Sequence[int]) -> dict[int, Profile]:
        query = (
            select(Profile)
            .where(Profile.id.in_(list(profile_ids)), live())
            # Everything results are explained and shown with, in four queries, not one
            # per profile.
            .options(
                selectinload(Profile.evidence),
                selectinload(Profile.organisation),
                selectinload(Profile.sector_rows),
                selectinload(Profile.value_chain_rows),
            )
            .order_by(Profile.id)
        )
        return {profile.id: profile for profile in db.session.scalars(query)}

    def passages(self, profile_ids: Sequence[int]) -> list[ProfilePassages]:
        return [
            (profile_id, profile_passages(profile))
            for profile_id, profile in self.profiles(profile_ids).items()
        ]

    def organisation_members(self, organisation_id: int) -> set[int]:
        return set(
            db.session.scalars(
                select(Profile.id).where(Profile.organisation_id == organisation_id, live())
            )
        )

    def filtered_ids(self, filters: ProfileFilters | None) -> list[int] | None:
        if filters is None or replace(filters, exclude_profiles=()) == ProfileFilters():
            return None
        return filtered_profile_ids(replace(filters, exclude_profiles=()))

    def journal_position(self) -> int:
        return journal.latest_seq()

    def changed_since(self, seq: int, until: int) -> list[int]:
        return journal.changed_since(seq, until)

    def snapshot_written(self, seq: int) -> None:
        journal.prune(seq)
        db.session.commit()

    def release(self) -> None:
        db.session.expire_all()
