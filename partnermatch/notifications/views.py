"""The notification list and, for coordinators, the outbox."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import staff_required
from partnermatch.extensions import db
from partnermatch.notifications import services
from partnermatch.pagination import page_number

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def index() -> str:
    page = page_number(request.args)
    notifications = services.notifications_of(current_user, page, 30)
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
    page = page_number(request.args)
    return render_template(
        "notifications/outbox.html",
        messages=services.outbox_page(page, 30),
        smtp_configured=bool(current_app.config["SMTP_HOST"]),
    )
