"""A member's shortlist: one row per saved partner profile."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnermatch.extensions import db
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.profiles.models import Profile


class ShortlistEntry(db.Model):
    __tablename__ = "shortlist_entries"
    # A profile is on a member's shortlist once, however often it is saved.
    __table_args__ = (UniqueConstraint("user_id", "profile_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    profile: Mapped[Profile] = relationship()
