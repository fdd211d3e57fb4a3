"""Account rules: registration, authentication, passwords. No HTTP here; callers commit."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from partnermatch import reference
from partnermatch.auth.models import SELF_SERVICE_ROLES, Role, User, normalise_email
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import clean_text, parse_id

MIN_PASSWORD_LENGTH = 10
MAX_DISPLAY_NAME = 120  # the column's length
DUMMY_HASH_KEY = "partnermatch.dummy_password_hash"


def hash_password(password: str) -> str:
    """Hash a password with the configured (memory-hard by default) method."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password_rules(password: str, field: str = "password") -> None:
    """Raise ValidationError if a new password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(field, f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if password.strip() != password or not password.strip():
        raise ValidationError(field, "The password may not start or end with spaces.")


def find_user_by_email(email: str) -> User | None:
    """Return the user with this email address, whatever its case."""
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


def create_user(email: str, password: str, display_name: str, role: Role | str) -> User:
    """Create an account with any role (admins and the CLI); raise ValidationError if invalid."""
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValidationError("email", str(error)) from None
    if find_user_by_email(email):
        raise ValidationError("email", "An account with this email address already exists.")
    display_name = clean_text(display_name, "display_name", max_length=MAX_DISPLAY_NAME)
    if not display_name:
        raise ValidationError("display_name", "Give a name to show to other members.")
    check_password_rules(password)
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=display_name,
        role=reference.coerce_enum(Role, role, "role"),
    )
    db.session.add(user)
    db.session.flush()
    return user


def register(email: str, password: str, display_name: str, role: Role | str) -> User:
    """Create an SME or expert account through self-service registration."""
    role = reference.coerce_enum(Role, role, "role")
    if role not in SELF_SERVICE_ROLES:
        raise ValidationError("role", "Register as an SME or an expert.")
    return create_user(email, password, display_name, role)


def _dummy_hash() -> str:
    """A hash made the way accounts' passwords are (once per app): checked when an unknown
    email logs in, so that a wrong email costs what a wrong password costs and the time of
    the answer does not tell which emails have accounts."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    hashes = current_app.extensions.setdefault(DUMMY_HASH_KEY, {})
    if method not in hashes:
        hashes[method] = generate_password_hash(secrets.token_urlsafe(16), method=method)
    return hashes[method]


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Replace a user's password after checking the current one; end every session."""
    if not check_password_hash(user.password_hash, current_password):
        raise ValidationError("current_password", "This is not your current password.")
    check_password_rules(new_password, "new_password")
    user.password_hash = hash_password(new_password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """End every session of the account: each session and remember cookie names the session
    version it was issued under, and no longer loads the account once it has moved on."""
    user.session_version = (user.session_version or 0) + 1
    db.session.flush()


def user_for_session(session_id: str) -> User | None:
    """Return the active account a session or remember cookie names ("id:version"), or None
    when the id is unknown, malformed or from before the account's sessions were ended."""
    user_id, _, version = session_id.partition(":")
    try:
        user = db.session.get(User, parse_id(user_id, "user"))
    except ValidationError:
        return None
    if user is None or version != str(user.session_version):
        return None
    return user


def set_active(user: User, active: bool, *, actor: User) -> None:
    """An admin deactivates (or reactivates) an account; deactivation ends its sessions."""
    if user.id == actor.id and not active:
        raise ValidationError("active", "You cannot deactivate your own account.")
    user.active = active
    if not active:
        end_sessions(user)
    db.session.flush()
