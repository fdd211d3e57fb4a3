"""Account forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from partnermatch.auth.models import Role
from partnermatch.auth.services import MIN_PASSWORD_LENGTH
from partnermatch.forms import Form, options

MAX_PASSWORD_LENGTH = 200
PASSWORD_HELP = _l("At least %(num)d characters.", num=MIN_PASSWORD_LENGTH)


class LoginForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(), Email()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    remember = BooleanField(_l("Keep me logged in on this device"))


def password_length() -> Length:
    """The length rule of a new password, its message saying what the help text says."""
    return Length(
        min=MIN_PASSWORD_LENGTH,
        max=MAX_PASSWORD_LENGTH,
        # WTForms fills in %(min)d and %(max)d.
        message=_l("Use at least %(min)d characters (and at most %(max)d)."),
    )


class RegistrationForm(Form):
    role = RadioField(
        _l("I am joining as"),
        choices=options(
            [
                (Role.SME.value, _l("An SME looking for partners and expertise")),
                (Role.EXPERT.value, _l("An expert (industry, government, academia or research)")),
            ]
        ),
        validators=[DataRequired(message=_l("Choose SME or expert."))],
    )
    display_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), password_length()],
        description=PASSWORD_HELP,
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class ChangePasswordForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired(), password_length()],
        description=PASSWORD_HELP,
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[
            DataRequired(),
            EqualTo("new_password", message=_l("The two passwords differ.")),
        ],
    )


class CreateUserForm(Form):
    """An admin creates any account, including coordinators and admins."""

    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        _l("Role"),
        choices=options((role.value, _l(role.label)) for role in Role),
        default=Role.COORDINATOR.value,
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired(), password_length()],
        description=_l(
            "At least %(num)d characters. Ask the person to change it after the first login.",
            num=MIN_PASSWORD_LENGTH,
        ),
    )


class TokenForm(Form):
    name = StringField(
        _l("What the token is for"),
        validators=[DataRequired(), Length(max=100)],
        description=_l("For example: CRM sync, event check-in, my scripts."),
    )


class RevokeTokenForm(Form):
    """No fields: the CSRF token alone."""


class AccountActiveForm(Form):
    """An admin deactivates or reactivates an account."""

    active = SelectField(choices=options([("0", _l("Deactivate")), ("1", _l("Reactivate"))]))
