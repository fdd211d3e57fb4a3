"""A saved search: its words and filters, and when its digest last went out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnermatch.extensions import db
from partnermatch.timeutil import utcnow


class SavedSearch(db.Model):
    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    query: Mapped[str] = mapped_column(Text)
    # The search page's query-string filters ({"sector": ["metal"], "kind": "sme", ...}).
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Profiles changed after this are news for the next digest.
    digested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
