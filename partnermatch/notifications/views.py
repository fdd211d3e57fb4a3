"""The notification list and, for coordinators, the outbox."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import staff_required
from partnermatch.extensions import db
from partnermatch.notifications import services

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def index() -> str:
    page = request.args.get("page", 1, type=int)
    notifications = services.notifications_of(current_user, max(page, 1), 30)
    return render_template("notifications/index.html", notifications=notifications)


@bp.post("/notifications/read")
@login_required
def mark_read() -> Response:
    services.mark_all_read(current_user)
    db.session.commit()
    flash(_("All notifications marked as read."), "info")
    return redirect(url_for("notifications.index"))


@bp.get("/outbox")
@staff_required
def outbox() -> str:
    page = request.args.get("page", 1, type=int)
    return render_template(
        "notifications/outbox.html",
        messages=services.outbox_page(max(page, 1), 30),
        smtp_configured=bool(current_app.config["SMTP_HOST"]),
    )
