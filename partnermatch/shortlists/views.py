"""The shortlist page, saving and removing partners, and the shortlist's CSV export."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import is_safe_local_url
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.pagination import page_number
from partnermatch.profiles.models import Profile
from partnermatch.review import services as review
from partnermatch.shortlists import services

bp = Blueprint("shortlists", __name__, url_prefix="/shortlist")


def _back(default: str) -> Response:
    target = request.form.get("next")
    return redirect(target if is_safe_local_url(target) else default)


def profile_url(profile: Profile) -> str:
    """The address of a profile page, for exports read outside the site."""
    return url_for("profiles.detail", profile_id=profile.id, _external=True)


def csv_response(text: str, filename: str) -> Response:
    """A CSV download."""
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/")
@login_required
def index() -> str:
    removed_id = request.args.get("removed", type=int)
    return render_template(
        "shortlists/index.html",
        entries=services.entries_page(
            current_user, page_number(request.args), current_app.config["PROFILES_PER_PAGE"]
        ),
        open_matches=review.sme_matches_by_partner(current_user),
        removed=db.session.get(Profile, removed_id) if removed_id else None,
    )


@bp.post("/<id:profile_id>")
@login_required
def add(profile_id: int) -> Response:
    profile = db.get_or_404(Profile, profile_id)
    try:
        services.add(current_user, profile)
    except ValidationError:
        db.session.rollback()
        flash(_("This profile cannot go on your shortlist."), "error")
    else:
        db.session.commit()
        flash(_("%(name)s is on your shortlist.", name=profile.name), "success")
    return _back(url_for("profiles.detail", profile_id=profile_id))


@bp.post("/<id:profile_id>/remove")
@login_required
def remove(profile_id: int) -> Response:
    if db.session.get(Profile, profile_id) is None:
        abort(404)
    services.remove(current_user, profile_id)
    db.session.commit()
    if request.form.get("from") == "shortlist":
        # Removing is undone from the shortlist page itself (no confirmation needed).
        return redirect(url_for("shortlists.index", removed=profile_id))
    flash(_("Removed from your shortlist."), "info")
    return _back(url_for("shortlists.index"))


@bp.get("/export.csv")
@login_required
def export() -> Response:
    rows = [services.ExportRow(entry.profile) for entry in services.entries(current_user)]
    return csv_response(
        services.export_csv(rows, current_user, profile_url),
        services.csv_filename("partnermatch-shortlist"),
    )
