"""Account forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from partnermatch.auth.models import Role
from partnermatch.auth.services import MIN_PASSWORD_LENGTH
from partnermatch.forms import options

PASSWORD_HELP = f"At least {MIN_PASSWORD_LENGTH} characters."


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Keep me logged in on this device")


class RegistrationForm(FlaskForm):
    role = RadioField(
        "I am joining as",
        choices=options(
            [
                (Role.SME.value, "An SME looking for partners and expertise"),
                (Role.EXPERT.value, "An expert (industry, government, academia or research)"),
            ]
        ),
        validators=[DataRequired(message="Choose SME or expert.")],
    )
    display_name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
        description=PASSWORD_HELP,
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
        description=PASSWORD_HELP,
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[DataRequired(), EqualTo("new_password", message="The two passwords differ.")],
    )


class CreateUserForm(FlaskForm):
    """An admin creates any account, including coordinators and admins."""

    display_name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        "Role",
        choices=options((role.value, role.label) for role in Role),
        default=Role.COORDINATOR.value,
    )
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)],
        description=PASSWORD_HELP + " Ask the person to change it after the first login.",
    )


class TokenForm(FlaskForm):
    name = StringField(
        "What the token is for",
        validators=[DataRequired(), Length(max=100)],
        description="For example: CRM sync, event check-in, my scripts.",
    )


class RevokeTokenForm(FlaskForm):
    """No fields: the CSRF token alone."""
