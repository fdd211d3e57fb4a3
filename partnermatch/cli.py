"""Command-line tools: ``flask --app wsgi users ...`` and ``flask --app wsgi demo ...``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from partnermatch.auth import services as accounts
from partnermatch.auth.models import Role
from partnermatch.demo import DEMO_ACCOUNTS, is_database_empty, load_demo
from partnermatch.errors import ValidationError
from partnermatch.extensions import db

users_cli = AppGroup("users", help="Manage accounts.")
demo_cli = AppGroup("demo", help="Load the demo programme.")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    required=True,
    help="The account's role.",
)
@click.option("--name", "display_name", required=True, help="The name other members see.")
@click.password_option(help="Prompted twice, hidden, when not given.")
def create_user(email: str, role: str, display_name: str, password: str) -> None:
    """Create an account with any role, including coordinators and admins."""
    try:
        user = accounts.create_user(email, password, display_name, role)
    except ValidationError as error:
        db.session.rollback()
        raise click.UsageError(f"{error.field}: {error.message}") from None
    db.session.commit()
    click.echo(f"Created {user.role.label} account {user.email}.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing unless the database is empty.")
def load(if_empty: bool) -> None:
    """Load the demo profiles and accounts; running it again adds only what is missing."""
    password = current_app.config["DEMO_PASSWORD"]
    if if_empty and not is_database_empty():
        click.echo("The database already holds data: demo data not loaded.")
    else:
        report = load_demo(password)
        db.session.commit()
        click.echo(
            f"Demo profiles: {report.profiles_created} created, "
            f"{report.profiles_present} already present. "
            f"Demo accounts created: {report.accounts_created}."
        )
        for error in report.errors:
            click.echo(f"  skipped {error}", err=True)
    if all(accounts.find_user_by_email(account.email) for account in DEMO_ACCOUNTS):
        click.echo(f"\nDemo logins (password for each: {password}):")
        for account in DEMO_ACCOUNTS:
            click.echo(f"  {account.role.label:<12} {account.email}")
