"""The migration chain: one head, it builds an empty database, and it matches the models."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, SAWarning

from partnermatch.extensions import db

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def test_there_is_a_single_migration_head(app):
    config = app.extensions["migrate"].migrate.get_config()

    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


# SQLite cannot reflect the lower(email) index: it is checked by behaviour below instead.
REFLECTION_WARNING = "Skipped unsupported reflection"


def test_upgrade_builds_an_empty_database(app):
    upgrade()

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", REFLECTION_WARNING, SAWarning)
        tables = set(inspect(db.engine).get_table_names())
    assert {
        "users",
        "organisations",
        "profiles",
        "evidence_items",
        "profile_sectors",
        "profile_value_chain",
        "alembic_version",
    } <= tables


def test_the_migrated_schema_keeps_emails_unique_whatever_their_case(app):
    upgrade()
    insert = text(
        "INSERT INTO users (email, password_hash, display_name, role, active, created_at) "
        "VALUES (:email, 'x', 'Ana', 'sme', true, CURRENT_TIMESTAMP)"
    )
    db.session.execute(insert, {"email": "ana@example.org"})

    with pytest.raises(IntegrityError):
        db.session.execute(insert, {"email": "ANA@example.org"})
    db.session.rollback()


def test_the_migrations_match_the_models(app):
    upgrade()

    with db.engine.connect() as connection, warnings.catch_warnings():
        warnings.filterwarnings("ignore", REFLECTION_WARNING, SAWarning)
        warnings.filterwarnings(
            "ignore", "autogenerate skipping metadata-specified expression-based index"
        )
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)

    assert differences == []
