"""What the engine reads of the programme: profiles' passages, filters and the journal.

The engine reads them through this small protocol, not from the database itself, so it can
be driven over any store (partnermatch.profiles.index_source is the SQL one the app uses)
and tested without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from partnermatch.matching.passages import Passage
from partnermatch.profiles.models import Profile

ProfilePassages = tuple[int, Sequence[Passage]]


class ProfileSource(Protocol):
    def profile_ids(self) -> list[int]:
        """Every profile's id, in order."""

    def profile_count(self) -> int:
        """How many profiles there are."""

    def passages(self, profile_ids: Sequence[int]) -> list[ProfilePassages]:
        """The passages of those of these profiles that exist (deleted ones are left out)."""

    def profiles(self, profile_ids: Sequence[int]) -> dict[int, Profile]:
        """Those of these profiles that exist, by id, with their evidence and organisation."""

    def organisation_members(self, organisation_id: int) -> set[int]:
        """The ids of the profiles of an organisation."""

    def filtered_ids(self, filters: Any) -> list[int] | None:
        """The ids of the profiles that pass the filters, or None when nothing is filtered
        (exclude_profiles aside: the engine leaves those out itself)."""

    def journal_position(self) -> int:
        """The newest journal entry's number (0 when empty)."""

    def changed_since(self, seq: int, until: int) -> list[int]:
        """The profiles changed in journal entries (seq, until]."""

    def snapshot_written(self, seq: int) -> None:
        """A snapshot holding every change up to seq is current: forget those entries."""

    def release(self) -> None:
        """Let go of what a batch loaded (a rebuild reads every profile once)."""
