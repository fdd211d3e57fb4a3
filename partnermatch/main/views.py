"""The landing page: what PartnerMatch is, and each role's next step."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from partnermatch.api.openapi import openapi_document
from partnermatch.auth.decorators import is_safe_local_url, staff_required
from partnermatch.extensions import db
from partnermatch.i18n import SESSION_KEY, format_datetime, supported_locales
from partnermatch.main import services as home
from partnermatch.main.forms import ReminderForm
from partnermatch.matching.extension import get_engine
from partnermatch.pagination import page_number
from partnermatch.profiles.services import profile_missing, programme_counts
from partnermatch.profiles.views import partner_suggestions
from partnermatch.review.models import Match
from partnermatch.timeutil import utcnow

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    """The home page: what the programme is, and for each role what to do next."""
    staff = current_user.is_authenticated and current_user.is_staff
    own_profile = current_user.profile if current_user.is_authenticated else None
    # A member's panels read their live profile; staff have the programme's instead.
    member = own_profile is not None and not own_profile.is_deleted and not staff
    return render_template(
        "main/index.html",
        counts=programme_counts(),
        own_profile=own_profile,
        completeness=home.completeness(own_profile) if member else None,
        member=home.member_home(own_profile) if member else None,
        follow_up=(
            home.coordinator_home(utcnow(), current_app.config["REMINDER_AFTER_DAYS"])
            if staff
            else None
        ),
        reminder_form=ReminderForm() if staff else None,
        **(partner_suggestions(own_profile) if member else {}),
    )


@bp.post("/matches/<id:match_id>/remind")
@staff_required
def remind(match_id: int) -> Response:
    """Remind the parties of an introduction they have not answered."""
    match = db.get_or_404(Match, match_id)
    if ReminderForm().validate_on_submit():
        try:
            sent = home.send_reminder(match, current_user, utcnow())
        except home.ReminderRefused as refused:
            values = {
                name: format_datetime(value) if isinstance(value, datetime) else value
                for name, value in refused.values.items()
            }
            flash(_(refused.message, **values), "error")
        else:
            db.session.commit()
            flash(
                ngettext(
                    "Reminder sent to %(num)d person.", "Reminder sent to %(num)d people.", sent
                ),
                "success",
            )
    return redirect(url_for("main.index", _anchor="unanswered-title"))


@bp.get("/follow-up/profiles")
@staff_required
def follow_up_profiles() -> str:
    """The profiles to follow up: incomplete ones, or those not updated for a year."""
    which = request.args.get("which", "incomplete")
    if which not in home.FOLLOW_UP_KINDS:
        abort(404)
    results = home.profiles_to_follow_up(
        which, utcnow(), page_number(request.args), current_app.config["PROFILES_PER_PAGE"]
    )
    return render_template(
        "main/follow_up_profiles.html", which=which, results=results, missing=profile_missing
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
