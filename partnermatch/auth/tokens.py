"""Personal API tokens: shown once, stored only as a hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from partnermatch.auth.models import User
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import clean_text
from partnermatch.timeutil import utcnow

TOKEN_PREFIX = "pm_"
SHOWN_PREFIX_LENGTH = 10


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(20))  # enough to recognise it in a list
    # SHA-256 suffices: a token is 256 random bits, not a password a person chose.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for a user; return it with its secret, which is shown only this once."""
    name = clean_text(name, "name")
    if not name or len(name) > 100:
        raise ValidationError("name", "Name the token (up to 100 characters), e.g. 'CRM sync'.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user, name=name, prefix=secret[:SHOWN_PREFIX_LENGTH], token_hash=_hash(secret)
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def tokens_of(user: User) -> list[ApiToken]:
    """Return a user's tokens, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke(token: ApiToken) -> None:
    """Revoke a token: it stops working at once."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    db.session.flush()


# Record a token's use at most this often: a write per request would serialise the API.
USE_RECORDED_EVERY = timedelta(minutes=5)


def active_token(secret: str) -> ApiToken | None:
    """Return the active token with this secret, of an active account, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(secret)))
    if token is None or not token.active or not token.user.active:
        return None
    return token


def user_for_token(secret: str) -> User | None:
    """Return the active user an active token belongs to, or None."""
    token = active_token(secret)
    return token.user if token else None


def record_use(secret: str) -> None:
    """Note when a token was last used, in a write of its own (the caller commits)."""
    now = utcnow()
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.token_hash == _hash(secret),
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - USE_RECORDED_EVERY),
        )
        .values(last_used_at=now)
    )
