"""Event pages: the list of upcoming and past events, an event with its participants, and
the coordinator's form to create or edit one."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import staff_required
from partnermatch.events import services
from partnermatch.events.forms import EventForm
from partnermatch.events.models import Event
from partnermatch.extensions import db
from partnermatch.pagination import page_number

bp = Blueprint("events", __name__, url_prefix="/events")


@bp.route("/")
def index() -> str:
    upcoming, past = services.upcoming_and_past()
    return render_template("events/index.html", upcoming=upcoming, past=past)


@bp.route("/<id:event_id>")
def detail(event_id: int) -> str:
    from flask import request

    event = db.get_or_404(Event, event_id)
    participants = services.participants_of(
        event, page_number(request.args), current_app.config["PROFILES_PER_PAGE"]
    )
    return render_template(
        "events/detail.html",
        event=event,
        participants=participants,
        windows={
            field: services.to_local(getattr(event, field), event.timezone)
            for field in services.WINDOW_FIELDS
        },
    )


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def new() -> str | Response:
    form = EventForm()
    if form.validate_on_submit():
        event = services.save_event(form.event_input())
        db.session.commit()
        flash(_("Event created."), "success")
        return redirect(url_for("events.detail", event_id=event.id))
    return render_template("events/edit.html", form=form, event=None)


@bp.route("/<id:event_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(event_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    form = EventForm(obj=event)
    if not form.is_submitted():
        form.sessions.data = services.sessions_text(event.sessions)
        form.pairing.data = event.pairing.value
        for field in services.WINDOW_FIELDS:
            local = services.to_local(getattr(event, field), event.timezone)
            getattr(form, field).data = local.replace(tzinfo=None) if local else None
    if form.validate_on_submit():
        services.save_event(form.event_input(), event)
        db.session.commit()
        flash(_("Event saved."), "success")
        return redirect(url_for("events.detail", event_id=event.id))
    return render_template("events/edit.html", form=form, event=event)


@bp.app_template_filter("event_datetime")
def event_datetime(instant, zone: str) -> str:
    """Show an instant in the event's time zone, in the reader's language."""
    from babel.dates import format_datetime
    from flask_babel import get_locale

    local = services.to_local(instant, zone)
    return (
        format_datetime(local, "medium", tzinfo=local.tzinfo, locale=get_locale()) if local else ""
    )
