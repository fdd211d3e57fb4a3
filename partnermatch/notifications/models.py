"""Notifications shown in the app, and emails waiting in the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask_babel import gettext
from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnermatch.extensions import db
from partnermatch.i18n import one_full_stop
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.auth.models import User


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    match_id: Mapped[int | None] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    # A message of the catalogue with %(name)s fields, and their values (None: the message as
    # it was written, in English, before notifications were translated).
    message: Mapped[str] = mapped_column(Text)
    message_values: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # Where the message leads in the site ("/search/?q=..."), for those without a match.
    link: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()

    @property
    def text(self) -> str:
        """The message in the current interface language."""
        if self.message_values is None:
            return self.message
        return render_message(self.message, self.message_values)


def render_message(message: str, values: dict[str, str]) -> str:
    """Fill a notification message in the current language; a value whose field ends in
    "_label" is a vocabulary label (an outcome, a state) and is translated too."""
    text = gettext(
        message,
        **{
            name: gettext(value) if name.endswith("_label") else value
            for name, value in values.items()
        },
    )
    return one_full_stop(text)


class OutboxMessage(db.Model):
    """An email written in the same transaction as what it reports, sent later by `outbox send`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
