"""PartnerMatch: match SMEs with experts and partner organisations across economies."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, has_request_context, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from partnermatch.config import instance_path_setting, load_config
from partnermatch.extensions import csrf, db, limiter, login_manager, migrate
from partnermatch.inputs import IdConverter
from partnermatch.matching.extension import init_matching
from partnermatch.reference import N_
from partnermatch.security import register_security

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(
    test_config: Mapping[str, Any] | None = None, *, instance_path: str | Path | None = None
) -> Flask:
    """Create and configure a PartnerMatch application."""
    app = Flask(
        __name__,
        instance_path=str(instance_path or instance_path_setting() or PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    load_config(app, test_config)
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_i18n(app)
    register_error_handlers(app)
    register_security(app)
    register_jobs(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    init_matching(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = N_("Please log in to see that page.")
    login_manager.login_message_category = "info"

    from partnermatch.auth.models import User
    from partnermatch.auth.services import user_for_session

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        return user_for_session(session_id)


@event.listens_for(Engine, "connect")
def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # SQLite ignores ON DELETE CASCADE unless each connection asks for foreign keys.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # Write-ahead logging: readers (other web workers, job threads) never block a writer.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        # pysqlite opens transactions lazily, so a SAVEPOINT would start (and its RELEASE
        # commit) a transaction of its own; SQLAlchemy emits BEGIN itself instead (below).
        dbapi_connection.isolation_level = None


# POST endpoints that only read: they must not hold the write lock while they search.
READ_ONLY_ENDPOINTS = frozenset({"api.search_post"})


@event.listens_for(Engine, "begin")
def _begin_sqlite_transaction(connection: Any) -> None:
    if connection.dialect.name != "sqlite":
        return
    # A request that changes data takes the write lock at its first statement. Under WAL, a
    # transaction that read first and writes later fails at once ("database is locked") when
    # another process committed in between; waiting for the lock up front avoids that.
    writing = (
        has_request_context()
        and request.method not in ("GET", "HEAD", "OPTIONS")
        and request.endpoint not in READ_ONLY_ENDPOINTS
    )
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def register_url_converters(app: Flask) -> None:
    # Every route that takes an id reads it as <id:...>: digits from 1 to 2^63 - 1, else 404.
    app.url_map.converters["id"] = IdConverter


def register_blueprints(app: Flask) -> None:
    from partnermatch.api.views import bp as api_bp
    from partnermatch.auth.views import bp as auth_bp
    from partnermatch.dashboard.views import bp as dashboard_bp
    from partnermatch.events.views import bp as events_bp
    from partnermatch.jobs.views import bp as jobs_bp
    from partnermatch.main.views import bp as main_bp
    from partnermatch.notifications.views import bp as notifications_bp
    from partnermatch.profiles.views import bp as profiles_bp
    from partnermatch.review.views import bp as review_bp
    from partnermatch.saved_searches.views import bp as saved_searches_bp
    from partnermatch.search.views import bp as search_bp
    from partnermatch.shortlists.views import bp as shortlists_bp

    for blueprint in (
        main_bp,
        auth_bp,
        profiles_bp,
        search_bp,
        review_bp,
        notifications_bp,
        dashboard_bp,
        jobs_bp,
        events_bp,
        shortlists_bp,
        saved_searches_bp,
    ):
        app.register_blueprint(blueprint)
    # Token requests carry no cookie to forge: CSRF protects the cookie-authenticated forms.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)


def register_template_helpers(app: Flask) -> None:
    from flask_login import current_user

    from partnermatch import reference
    from partnermatch.auth.models import Role
    from partnermatch.notifications.services import unread_count
    from partnermatch.profiles.services import MISSING_LABELS
    from partnermatch.rendering import render_markdown

    @app.context_processor
    def inject_reference() -> dict[str, Any]:
        return {"reference": reference, "Role": Role}

    @app.context_processor
    def inject_unread_notifications() -> dict[str, Any]:
        if not current_user.is_authenticated:
            return {"unread_notifications": 0}
        return {"unread_notifications": unread_count(current_user)}

    app.jinja_env.filters["economy_name"] = reference.economy_name
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["missing_label"] = lambda code: MISSING_LABELS.get(code, code)
    app.jinja_env.filters["sector_label"] = lambda code: getattr(
        reference.sector(code), "label", code
    )
    app.jinja_env.filters["value_chain_label"] = lambda code: getattr(
        reference.value_chain_position(code), "label", code
    )


def register_i18n(app: Flask) -> None:
    from partnermatch.i18n import init_app

    init_app(app)


ERROR_PAGES = {
    429: (N_("Too many requests"), N_("Please wait a moment before trying again.")),
    400: (
        N_("Bad request"),
        N_("The request could not be understood. Please check what you sent."),
    ),
    403: (N_("Not allowed"), N_("Your account may not open this page or make this change.")),
    404: (
        N_("Page not found"),
        N_("There is nothing at this address. It may have moved or been removed."),
    ),
    405: (N_("Method not allowed"), N_("This page cannot be used that way.")),
    413: (N_("Too large"), N_("What you sent is larger than this site accepts.")),
    500: (
        N_("Something went wrong"),
        N_("The error has been logged. Please try again in a moment."),
    ),
}
DATABASE_UNAVAILABLE = (
    N_("Temporarily unavailable"),
    N_(
        "The database cannot be reached at the moment. Nothing you sent in this request was "
        "saved; please try again in a minute."
    ),
)
CSRF_EXPIRED = (
    N_("Form expired"),
    N_("The form expired or was sent from another page. Go back, reload it and try again."),
)
# Seconds a client should wait before retrying while the database is out of reach.
DATABASE_RETRY_AFTER = 30


def register_error_handlers(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException, InternalServerError

    from partnermatch.api.errors import error_response
    from partnermatch.api.views import json_error_for_api

    def render_error(error: Any) -> Any:
        code = getattr(error, "code", 500) or 500
        if request.path.startswith("/api/"):
            return json_error_for_api(
                error if isinstance(error, HTTPException) else InternalServerError()
            )
        if code == 500:
            db.session.rollback()
        title, message = ERROR_PAGES.get(code, ERROR_PAGES[500])
        return render_template("errors/error.html", code=code, title=title, message=message), code

    def render_csrf_error(_error: CSRFError) -> tuple[str, int]:
        title, message = CSRF_EXPIRED
        return render_template("errors/error.html", code=400, title=title, message=message), 400

    def render_database_unavailable(error: OperationalError) -> Any:
        # The database stopped, restarted or (SQLite) stayed locked past the busy timeout.
        # The transaction is lost as a whole, so nothing of this request was saved.
        app.logger.error("Database unavailable: %s", error.orig or error)
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
        # The account cannot be loaded without the database: the page is shown as to a visitor.
        g._login_user = login_manager.anonymous_user()
        title, message = DATABASE_UNAVAILABLE
        if request.path.startswith("/api/"):
            response, status = error_response(503, message)
        else:
            page = render_template("errors/error.html", code=503, title=title, message=message)
            response, status = make_response(page), 503
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response, status

    for code in ERROR_PAGES:
        app.register_error_handler(code, render_error)
    app.register_error_handler(CSRFError, render_csrf_error)
    app.register_error_handler(OperationalError, render_database_unavailable)


def register_jobs(app: Flask) -> None:
    import partnermatch.jobs.tasks  # noqa: F401 - registers the job functions


def register_commands(app: Flask) -> None:
    from partnermatch.cli import (
        demo_cli,
        events_cli,
        index_cli,
        jobs_cli,
        matches_cli,
        outbox_cli,
        profiles_cli,
        searches_cli,
        tokens_cli,
        users_cli,
    )

    for group in (
        users_cli,
        tokens_cli,
        demo_cli,
        events_cli,
        profiles_cli,
        index_cli,
        matches_cli,
        outbox_cli,
        jobs_cli,
        events_cli,
        searches_cli,
    ):
        app.cli.add_command(group)
