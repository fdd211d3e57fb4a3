"""User accounts and their roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import DateTime, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from partnermatch import reference
from partnermatch.extensions import db, enum_column
from partnermatch.reference import N_
from partnermatch.timeutil import utcnow

if TYPE_CHECKING:
    from partnermatch.profiles.models import Profile


class Role(StrEnum):
    SME = "sme"
    EXPERT = "expert"
    COORDINATOR = "coordinator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        """Coordinators and admins run the programme and may edit any profile."""
        return self in (Role.COORDINATOR, Role.ADMIN)


ROLE_LABELS = {
    Role.SME: N_("SME"),
    Role.EXPERT: N_("Expert"),
    Role.COORDINATOR: N_("Coordinator"),
    Role.ADMIN: N_("Admin"),
}
SELF_SERVICE_ROLES = (Role.SME, Role.EXPERT)


def normalise_email(email: str) -> str:
    """Return an email address trimmed and lower-cased, as it is stored and looked up."""
    return email.strip().lower()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The interface language the user chose (a code of LANGUAGES); None: not chosen yet.
    locale: Mapped[str | None] = mapped_column(String(16))
    # Part of the id Flask-Login keeps in the session and in the remember cookie: moving it on
    # (auth.services.end_sessions: a logout, a password change, a deactivation) makes every
    # cookie issued before it unusable, on every device.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    profile: Mapped[Profile | None] = relationship(back_populates="owner", uselist=False)

    @validates("email")
    def _normalise_email(self, _key: str, email: str) -> str:
        return normalise_email(email)

    @validates("role")
    def _check_role(self, _key: str, role: str) -> Role:
        return reference.coerce_enum(Role, role, "role")

    def get_id(self) -> str:
        """The identifier Flask-Login stores: the account's id and its session version."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users at login
        return self.active

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


# Emails are stored lower-cased; the functional index also guards rows written around the ORM.
Index("uq_users_email_lower", func.lower(User.email), unique=True)
