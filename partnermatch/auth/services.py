"""Account rules: registration, authentication, passwords. No HTTP here; callers commit."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from partnermatch import reference
from partnermatch.auth.models import SELF_SERVICE_ROLES, Role, User, normalise_email
from partnermatch.errors import ValidationError
from partnermatch.extensions import db

MIN_PASSWORD_LENGTH = 10
# Checked against when an unknown email logs in, so both paths cost one hash.
_UNUSED_HASH = generate_password_hash("not-a-password", method="pbkdf2:sha256:1000")


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
    display_name = display_name.strip()
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


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_UNUSED_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Replace a user's password after checking the current one."""
    if not check_password_hash(user.password_hash, current_password):
        raise ValidationError("current_password", "This is not your current password.")
    check_password_rules(new_password, "new_password")
    user.password_hash = hash_password(new_password)
    db.session.flush()
