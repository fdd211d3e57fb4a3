"""The landing page: what PartnerMatch is, and each role's next step."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from partnermatch.api.openapi import openapi_document
from partnermatch.auth.decorators import is_safe_local_url
from partnermatch.extensions import db
from partnermatch.i18n import SESSION_KEY, supported_locales
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.services import profile_missing, programme_counts
from partnermatch.profiles.views import partner_suggestions

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    own_profile = current_user.profile if current_user.is_authenticated else None
    live = own_profile is not None and not own_profile.is_deleted
    suggestions = partner_suggestions(own_profile) if live else {}
    return render_template(
        "main/index.html",
        counts=programme_counts(),
        own_profile=own_profile,
        missing=profile_missing(own_profile) if own_profile is not None else [],
        **suggestions,
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Database reachable, index loaded and current, model id: for load balancers and people."""
    checks: dict[str, object] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as error:
        db.session.rollback()
        checks["database"] = f"unreachable: {error.__class__.__name__}"
    engine = get_engine()
    checks["model"] = engine.model_id
    if checks["database"] == "ok":
        status = engine.status()
        checks["index"] = status.problem or (
            f"version {status.manifest.version}, {status.indexed_profiles} profiles"
            + (f", {status.pending_changes} changes pending" if status.pending_changes else "")
        )
        healthy = status.problem is None
    else:
        healthy = False
    checks["status"] = "ok" if healthy else "unavailable"
    return jsonify(checks), 200 if healthy else 503


@bp.get("/api-docs")
def api_docs() -> str:
    return render_template("main/api_docs.html", document=openapi_document())


@bp.post("/language")
def set_language() -> Response:
    """Remember the chosen interface language: on the account, or in a visitor's session."""
    chosen = request.form.get("language", "")
    if chosen in supported_locales():
        session[SESSION_KEY] = chosen
        if current_user.is_authenticated:
            current_user.locale = chosen
            db.session.commit()
    target = request.form.get("next")
    return redirect(target if is_safe_local_url(target) else url_for("main.index"))
