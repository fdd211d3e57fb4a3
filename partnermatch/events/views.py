"""Event pages: the list of upcoming and past events, an event with its participants, and
the coordinator's form to create or edit one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import staff_required
from partnermatch.events import agenda as event_agenda
from partnermatch.events import feedback as meeting_feedback
from partnermatch.events import marketplace as event_marketplace
from partnermatch.events import participation, services
from partnermatch.events.forms import (
    AskForm,
    ConfirmForm,
    DecisionForm,
    EventForm,
    FeedbackForm,
    MarketplaceFilterForm,
    MarketplaceItemForm,
    MoveForm,
    PreferenceForm,
    PublishForm,
    RegistrationForm,
    SwapForm,
    ThirdPartyForm,
)
from partnermatch.events.models import (
    MAX_ITEMS,
    Event,
    ItemKind,
    MarketplaceItem,
    Meeting,
    MeetingRequest,
    Participant,
    Preference,
)
from partnermatch.extensions import db
from partnermatch.i18n import format_date
from partnermatch.jobs import runner
from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import recommend
from partnermatch.pagination import page_number
from partnermatch.profiles import services as profile_services
from partnermatch.profiles.forms import BrowseForm
from partnermatch.profiles.models import Profile
from partnermatch.review.learning import current_weights

Row = TypeVar("Row", Participant, MeetingRequest, Meeting, MarketplaceItem)

bp = Blueprint("events", __name__, url_prefix="/events")


@bp.route("/")
def index() -> str:
    upcoming, past = services.upcoming_and_past()
    return render_template("events/index.html", upcoming=upcoming, past=past)


@bp.route("/<id:event_id>")
def detail(event_id: int) -> str:
    event = db.get_or_404(Event, event_id)
    # The participants with the profile browser's facets, counted among them only.
    form = BrowseForm(request.args)
    form.validate()
    filters = form.profile_filters(among=tuple(participation.profile_ids_of(event)))
    participants = services.participants_of(
        event,
        form.page_number,
        current_app.config["PROFILES_PER_PAGE"],
        profile_ids=profile_services.filtered_profile_ids(filters),
    )
    own = (
        participation.participant_of(event, current_user.profile)
        if current_user.is_authenticated
        else None
    )
    return render_template(
        "events/detail.html",
        event=event,
        participants=participants,
        form=form,
        filters=filters,
        facets=profile_services.facet_counts(filters),
        own_participant=own,
        registration=participation.registration_is(event),
        requests=participation.requests_are(event),
        pairing_allows=participation.pairing_allows,
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


# --- taking part -----------------------------------------------------------------------------


def _of_event_or_404(model: type[Row], row_id: int, event: Event) -> Row:
    """The event's row of that id: 404 for a row of another event as for a missing one."""
    row = db.get_or_404(model, row_id)
    if row.event_id != event.id:
        abort(404)
    return row


def _refused(error: participation.EventError) -> str:
    """A refusal in the reader's language."""
    return _(error.message, **error.values)


def session_label(session) -> str:
    """A session as the reader reads it: "10 Mar 2027, 09:00-12:00"."""
    return f"{format_date(session.day)}, {session.start:%H:%M}\u2013{session.end:%H:%M}"


@bp.route("/<id:event_id>/register", methods=["GET", "POST"])
@login_required
def register(event_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    staff = current_user.is_staff
    own = None if staff else current_user.profile
    if not staff and own is None:
        flash(_("Describe your organisation in a profile first; then register it."), "info")
        return redirect(url_for("profiles.mine"))
    participant = participation.participant_of(event, own)
    form = RegistrationForm()
    form.sessions.choices = [(s.id, session_label(s)) for s in event.sessions]
    if staff:
        form.profile_id.choices = [
            (p.id, p.name) for p in participation.unregistered_profiles(event)
        ]
    else:
        del form.profile_id
        if participant is not None and not form.is_submitted():
            form.sessions.data = [s.id for s in participant.sessions]
            form.meeting_cap.data = participant.meeting_cap
    if form.validate_on_submit():
        profile = db.session.get(Profile, form.profile_id.data) if staff else own
        chosen = [s for s in event.sessions if s.id in form.sessions.data]
        try:
            participation.register(event, profile, chosen, form.meeting_cap.data, current_user)
        except participation.EventError as error:
            db.session.rollback()
            form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(_("%(name)s is registered for %(event)s.", name=profile.name, event=event.name))
            return redirect(url_for("events.detail", event_id=event.id))
    return render_template(
        "events/register.html",
        event=event,
        form=form,
        participant=participant,
        registration=participation.registration_is(event),
    )


@bp.route("/<id:event_id>/participants/<id:participant_id>/unregister", methods=["GET", "POST"])
@login_required
def unregister(event_id: int, participant_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    participant = _of_event_or_404(Participant, participant_id, event)
    if not participation.may_act_for(current_user, participant.profile):
        abort(403)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = participant.profile.name
        try:
            participation.unregister(participant, current_user)
        except participation.EventError as error:
            db.session.rollback()
            flash(_refused(error), "error")
        else:
            db.session.commit()
            flash(_("%(name)s is no longer registered for %(event)s.", name=name, event=event.name))
        return redirect(url_for("events.detail", event_id=event.id))
    return render_template(
        "events/unregister.html", event=event, participant=participant, form=form
    )


@bp.route("/<id:event_id>/participants/<id:participant_id>/ask", methods=["GET", "POST"])
@login_required
def ask(event_id: int, participant_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    recipient = _of_event_or_404(Participant, participant_id, event)
    sender = participation.participant_of(event, current_user.profile)
    if sender is None:
        flash(_("Register for this event before asking to meet anyone."), "error")
        return redirect(url_for("events.detail", event_id=event.id))
    form = AskForm()
    if form.validate_on_submit():
        try:
            participation.ask_to_meet(sender, recipient, form.reason.data, current_user)
        except participation.EventError as error:
            db.session.rollback()
            form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            name = recipient.profile.name
            flash(
                _("Your request to meet %(name)s goes to a coordinator first.", name=name)
                if event.review_requests
                else _("Your request to meet %(name)s is sent.", name=name),
                "success",
            )
            return redirect(url_for("events.meetings", event_id=event.id))
    return render_template("events/ask.html", event=event, recipient=recipient, form=form)


@bp.get("/<id:event_id>/meetings")
@login_required
def meetings(event_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    participant = participation.participant_of(event, current_user.profile)
    if participant is None:
        flash(_("You are not registered for %(event)s.", event=event.name), "info")
        return redirect(url_for("events.detail", event_id=event.id))
    return render_template(
        "events/meetings.html",
        event=event,
        participant=participant,
        incoming=participation.incoming(participant),
        outgoing=participation.outgoing(participant),
        waits_for_answer=participation.waits_for_answer,
        decision_form=DecisionForm(),
        requests_are=participation.requests_are(event),
        **recommended_meetings(event, participant),
    )


def recommended_meetings(event: Event, participant: Participant) -> dict[str, object]:
    """The participant's recommended partners among the event's participants, with marks."""
    others = [pid for pid in participation.profile_ids_of(event) if pid != participant.profile_id]
    found: list = []
    unavailable = None
    if others:
        try:
            found = recommend(
                get_engine(),
                participant.profile,
                current_app.config["RECOMMENDATIONS_SHOWN"],
                weights=current_weights(current_app.config),
                min_strength=current_app.config["RECOMMEND_MIN_STRENGTH"],
                among=others,
            )
        except IndexUnavailable as error:
            unavailable = str(error)
    by_profile = participation.participants_by_profile(event, [r.profile.id for r in found])
    allowed = [
        r
        for r in found
        if r.profile.id in by_profile
        and participation.pairing_allows(
            event, participant.profile, by_profile[r.profile.id].profile
        )
    ]
    return {
        "recommendations": allowed,
        "recommended_participants": by_profile,
        "marks": participation.preferences_of(participant),
        "preference_form": PreferenceForm(),
        "matching_unavailable": unavailable,
    }


@bp.post("/<id:event_id>/participants/<id:participant_id>/mark")
@login_required
def mark(event_id: int, participant_id: int) -> Response:
    event = db.get_or_404(Event, event_id)
    other = _of_event_or_404(Participant, participant_id, event)
    own = participation.participant_of(event, current_user.profile)
    form = PreferenceForm()
    if own is None or not form.validate_on_submit():
        flash(_("Register for this event, then mark the partners you would meet."), "error")
        return redirect(url_for("events.detail", event_id=event.id))
    try:
        participation.set_preference(own, other, form.choice.data, current_user)
    except participation.EventError as error:
        db.session.rollback()
        flash(_refused(error), "error")
    else:
        db.session.commit()
        flash(
            _(
                "%(name)s: %(choice)s.",
                name=other.profile.name,
                choice=_(Preference(form.choice.data).label),
            ),
            "success",
        )
    return redirect(url_for("events.meetings", event_id=event.id))


@bp.post("/<id:event_id>/requests/<id:request_id>/answer")
@login_required
def answer(event_id: int, request_id: int) -> Response:
    event = db.get_or_404(Event, event_id)
    meeting_request = _of_event_or_404(MeetingRequest, request_id, event)
    if not participation.answers_for(current_user, meeting_request.recipient.profile):
        abort(404)  # whether two others asked to meet is their business
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("accept", "decline"):
        flash(_("Choose accept or decline."), "error")
    else:
        accept = form.decision.data == "accept"
        try:
            participation.answer(meeting_request, current_user, accept)
        except participation.EventError as error:
            db.session.rollback()
            flash(_refused(error), "error")
        else:
            db.session.commit()
            flash(
                _("You accepted: the meeting goes into the schedule.")
                if accept
                else _("You declined this request."),
                "success",
            )
    if current_user.is_staff and current_user.profile is None:
        return redirect(url_for("events.requests", event_id=event.id))
    return redirect(url_for("events.meetings", event_id=event.id))


@bp.get("/<id:event_id>/requests")
@staff_required
def requests(event_id: int) -> str:
    event = db.get_or_404(Event, event_id)
    waiting = participation.awaiting_review(
        event, page_number(request.args), current_app.config["REVIEW_PER_PAGE"]
    )
    return render_template(
        "events/requests.html",
        event=event,
        waiting=waiting,
        unowned=participation.unanswered_for_unowned(event),
        decision_form=DecisionForm(),
    )


@bp.get("/<id:event_id>/requests/accepted")
@staff_required
def accepted_requests(event_id: int) -> str:
    """The accepted requests, each with its third party or a link to add one."""
    event = db.get_or_404(Event, event_id)
    accepted = participation.accepted_requests(
        event, page_number(request.args), current_app.config["REVIEW_PER_PAGE"]
    )
    return render_template("events/accepted_requests.html", event=event, accepted=accepted)


@bp.route("/<id:event_id>/requests/<id:request_id>/third", methods=["GET", "POST"])
@staff_required
def request_third_party(event_id: int, request_id: int) -> str | Response:
    """Add a third participant to an accepted request; refusals re-render the form."""
    event = db.get_or_404(Event, event_id)
    meeting_request = _of_event_or_404(MeetingRequest, request_id, event)
    form = _third_form(
        event, {meeting_request.from_participant_id, meeting_request.to_participant_id}
    )
    if form.validate_on_submit():
        third = _of_event_or_404(Participant, form.participant.data, event)
        try:
            participation.add_third_to_request(meeting_request, third, current_user)
        except participation.EventError as error:
            db.session.rollback()
            form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(_("%(name)s joins the meeting.", name=third.profile.name), "success")
            return redirect(url_for("events.accepted_requests", event_id=event.id))
    page = render_template(
        "events/request_third.html", event=event, meeting_request=meeting_request, form=form
    )
    return (page, 400) if form.is_submitted() else page


@bp.post("/<id:event_id>/requests/<id:request_id>/review")
@staff_required
def review_request(event_id: int, request_id: int) -> Response:
    event = db.get_or_404(Event, event_id)
    meeting_request = _of_event_or_404(MeetingRequest, request_id, event)
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
        flash(_("Choose approve or reject."), "error")
        return redirect(url_for("events.requests", event_id=event.id))
    approve = form.decision.data == "approve"
    try:
        participation.review(meeting_request, current_user, approve)
    except participation.EventError as error:
        db.session.rollback()
        flash(_refused(error), "error")
    else:
        db.session.commit()
        flash(
            _(
                "Approved: the request goes to %(name)s.",
                name=meeting_request.recipient.profile.name,
            )
            if approve
            else _("Rejected: %(name)s is told.", name=meeting_request.sender.profile.name),
            "success",
        )
    return redirect(url_for("events.requests", event_id=event.id))


@bp.app_template_filter("session_label")
def session_label_filter(session) -> str:
    return session_label(session)


@bp.context_processor
def event_helpers() -> dict[str, object]:
    return {"Preference": Preference, "request_stage": participation.request_stage}


def _own_participant_or_403(event_id: int, participant_id: int) -> tuple[Event, Participant]:
    event = db.get_or_404(Event, event_id)
    participant = _of_event_or_404(Participant, participant_id, event)
    if not participation.may_act_for(current_user, participant.profile):
        abort(403)
    return event, participant


@bp.get("/<id:event_id>/participants/<id:participant_id>/agenda")
@login_required
def agenda(event_id: int, participant_id: int) -> str:
    event, participant = _own_participant_or_403(event_id, participant_id)
    return render_template(
        "events/agenda.html",
        event=event,
        participant=participant,
        items=event_agenda.agenda_of(participant, with_proposed=current_user.is_staff),
        answered=meeting_feedback.answered_by(participant),
        has_ended=meeting_feedback.has_ended,
        # Staff read an owned participant's agenda but do not answer for it.
        gives_feedback=participation.answers_for(current_user, participant.profile),
    )


@bp.get("/<id:event_id>/participants/<id:participant_id>/agenda.ics")
@login_required
def agenda_ics(event_id: int, participant_id: int) -> Response:
    event, participant = _own_participant_or_403(event_id, participant_id)
    items = event_agenda.agenda_of(participant)
    response = Response(
        event_agenda.calendar_of(event, participant, items), mimetype="text/calendar"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="event-{event.id}-agenda-{participant.id}.ics"'
    )
    return response


# --- the coordinators' grid ------------------------------------------------------------------


@bp.get("/<id:event_id>/grid")
@staff_required
def grid(event_id: int) -> str:
    event = db.get_or_404(Event, event_id)
    return render_template(
        "events/grid.html",
        event=event,
        grid=event_agenda.grid_of(event),
        publish_form=PublishForm(),
        confirm_form=ConfirmForm(),
    )


@bp.post("/<id:event_id>/schedule")
@staff_required
def schedule(event_id: int) -> Response:
    """Run the scheduler as a background job; the job's page follows its progress."""
    event = db.get_or_404(Event, event_id)
    ConfirmForm().validate_on_submit()
    record = runner.submit("event_schedule", {"event_id": event.id}, current_user.id)
    flash(
        _(
            "The meetings are being scheduled; this page follows its progress. Published "
            "meetings stay where they are."
        ),
        "info",
    )
    return redirect(url_for("jobs.detail", job_id=record.id))


@bp.post("/<id:event_id>/publish")
@staff_required
def publish(event_id: int) -> Response:
    event = db.get_or_404(Event, event_id)
    form = PublishForm()
    if not form.validate_on_submit():
        flash(_("Choose the preliminary or the final agenda."), "error")
        return redirect(url_for("events.grid", event_id=event.id))
    try:
        count = event_agenda.publish(event, form.stage.data, current_user)
    except participation.EventError as error:
        db.session.rollback()
        flash(_refused(error), "error")
    else:
        db.session.commit()
        flash(
            ngettext(
                "Published: %(num)d meeting, and its parties are told.",
                "Published: %(num)d meetings, and their parties are told.",
                count,
            ),
            "success",
        )
    return redirect(url_for("events.grid", event_id=event.id))


@bp.route("/<id:event_id>/meetings/<id:meeting_id>/cancel", methods=["GET", "POST"])
@staff_required
def cancel_meeting(event_id: int, meeting_id: int) -> str | Response:
    event = db.get_or_404(Event, event_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            event_agenda.cancel(meeting, current_user)
        except participation.EventError as error:
            db.session.rollback()
            flash(_refused(error), "error")
        else:
            db.session.commit()
            flash(_("The meeting is cancelled."), "success")
        return redirect(url_for("events.grid", event_id=event.id))
    return render_template(
        "events/cancel_meeting.html",
        event=event,
        meeting=meeting,
        start=services.to_local(meeting.slot_start, event.timezone),
        form=form,
    )


@bp.post("/<id:event_id>/meetings/<id:meeting_id>/no-show")
@staff_required
def no_show(event_id: int, meeting_id: int) -> Response:
    event = db.get_or_404(Event, event_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    if ConfirmForm().validate_on_submit():
        event_agenda.mark_no_show(meeting, current_user, not meeting.no_show)
        db.session.commit()
        flash(
            _("Marked as a no-show.") if meeting.no_show else _("The no-show mark is removed."),
            "success",
        )
    return redirect(url_for("events.grid", event_id=event.id))


def _change_forms(event: Event, meeting: Meeting) -> tuple[MoveForm, SwapForm]:
    """The move and swap forms of a meeting, their choices the event's slots, tables and
    other meetings."""
    move_form, swap_form = MoveForm(prefix="move"), SwapForm(prefix="swap")
    move_form.slot.choices = [
        (slot.astimezone(UTC).isoformat(), f"{format_date(slot.date())}, {slot:%H:%M}")
        for slot in event_agenda.slot_starts(event)
    ]
    move_form.table.choices = [
        (number, _("Table %(number)s", number=number)) for number in range(1, event.tables + 1)
    ]
    others = event_agenda.grid_of(event).cells.items()
    swap_form.other.choices = [
        (
            other.id,
            f"{format_date(slot.date())}, {slot:%H:%M} · "
            + _("Table %(number)s", number=table)
            + "".join(f" · {party.profile.name}" for party in other.parties),
        )
        for (slot, table), other in sorted(others, key=lambda cell: cell[0])
        if other.id != meeting.id
    ]
    if not move_form.is_submitted():
        move_form.slot.data = services.to_local(meeting.slot_start, "UTC").isoformat()
        move_form.table.data = meeting.table_number
    return move_form, swap_form


def _third_form(event: Event, party_ids: Iterable[int], prefix: str = "") -> ThirdPartyForm:
    """The form to seat a third party, its choices the event's other participants."""
    form = ThirdPartyForm(prefix=prefix)
    rows = db.session.scalars(
        db.select(Participant)
        .join(Participant.profile)
        .where(Participant.event_id == event.id, Participant.id.not_in(list(party_ids)))
        .order_by(Profile.name)
    )
    form.participant.choices = [(row.id, row.profile.name) for row in rows]
    return form


def _change_page(
    event: Event,
    meeting: Meeting,
    move_form: MoveForm,
    swap_form: SwapForm,
    third_form: ThirdPartyForm | None = None,
):
    return render_template(
        "events/move_meeting.html",
        event=event,
        meeting=meeting,
        start=services.to_local(meeting.slot_start, event.timezone),
        move_form=move_form,
        swap_form=swap_form,
        third_form=third_form or _third_form(event, meeting.party_ids, prefix="third"),
    )


@bp.route("/<id:event_id>/meetings/<id:meeting_id>/move", methods=["GET", "POST"])
@staff_required
def move_meeting(event_id: int, meeting_id: int) -> str | Response:
    """Move a meeting to another slot or table on the day; refusals re-render the form."""
    event = db.get_or_404(Event, event_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    move_form, swap_form = _change_forms(event, meeting)
    if move_form.validate_on_submit():
        try:
            event_agenda.move(
                meeting,
                datetime.fromisoformat(move_form.slot.data),
                move_form.table.data,
                current_user,
            )
        except participation.EventError as error:
            db.session.rollback()
            move_form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(_("The meeting is moved."), "success")
            return redirect(url_for("events.grid", event_id=event.id))
    status = 400 if move_form.is_submitted() else 200
    return _change_page(event, meeting, move_form, swap_form), status


@bp.post("/<id:event_id>/meetings/<id:meeting_id>/swap")
@staff_required
def swap_meeting(event_id: int, meeting_id: int) -> str | Response:
    """Exchange the times and tables of two meetings; refusals re-render the form."""
    event = db.get_or_404(Event, event_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    move_form, swap_form = _change_forms(event, meeting)
    if swap_form.validate_on_submit():
        other = _of_event_or_404(Meeting, swap_form.other.data, event)
        try:
            event_agenda.swap(meeting, other, current_user)
        except participation.EventError as error:
            db.session.rollback()
            swap_form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(_("The two meetings are swapped."), "success")
            return redirect(url_for("events.grid", event_id=event.id))
    return _change_page(event, meeting, move_form, swap_form), 400


@bp.post("/<id:event_id>/meetings/<id:meeting_id>/third")
@staff_required
def add_third_party(event_id: int, meeting_id: int) -> str | Response:
    """Seat a third participant at a meeting; refusals re-render the page."""
    event = db.get_or_404(Event, event_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    move_form, swap_form = _change_forms(event, meeting)
    third_form = _third_form(event, meeting.party_ids, prefix="third")
    if third_form.validate_on_submit():
        third = _of_event_or_404(Participant, third_form.participant.data, event)
        try:
            event_agenda.add_third(meeting, third, current_user)
        except participation.EventError as error:
            db.session.rollback()
            third_form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(
                _("%(name)s joins the meeting.", name=third.profile.name),
                "success",
            )
            return redirect(url_for("events.grid", event_id=event.id))
    return _change_page(event, meeting, move_form, swap_form, third_form), 400


# --- feedback after a meeting ----------------------------------------------------------------


@bp.route(
    "/<id:event_id>/participants/<id:participant_id>/meetings/<id:meeting_id>/feedback",
    methods=["GET", "POST"],
)
@login_required
def feedback(event_id: int, participant_id: int, meeting_id: int) -> str | Response:
    """A party's answers once the meeting has ended: was it useful, and what next."""
    event, participant = _own_participant_or_403(event_id, participant_id)
    meeting = _of_event_or_404(Meeting, meeting_id, event)
    if not meeting_feedback.is_party(meeting, participant):
        abort(404)
    answers = meeting_feedback.feedback_of(meeting)
    given = answers.get(participant.id)
    form = FeedbackForm()
    if given and not form.is_submitted():
        form.useful.data, form.next_step.data = given.useful.value, given.next_step.value
        form.note.data = given.note
    if form.validate_on_submit():
        try:
            meeting_feedback.give_feedback(
                meeting,
                participant,
                form.useful.data,
                form.next_step.data,
                form.note.data or "",
                current_user,
            )
        except participation.EventError as error:
            db.session.rollback()
            form.form_errors.append(_refused(error))
        else:
            db.session.commit()
            flash(_("Thank you: your feedback is saved."), "success")
            return redirect(
                url_for("events.agenda", event_id=event.id, participant_id=participant.id)
            )
    try:
        meeting_feedback.check_open(meeting)
        closed = None
    except participation.EventError as error:
        closed = _refused(error)
    others = [party for party in meeting.parties if party.id != participant.id]
    page = render_template(
        "events/feedback.html",
        event=event,
        participant=participant,
        meeting=meeting,
        partner_names=", ".join(other.profile.name for other in others),
        start=services.to_local(meeting.slot_start, event.timezone),
        closed=closed,
        form=form,
        # Staff see both parties' answers; a party sees only its own.
        # The other parties' answers, for coordinators.
        other_answers=[(other, answers[other.id]) for other in others if other.id in answers]
        if current_user.is_staff
        else [],
    )
    return (page, 400) if form.is_submitted() else page


@bp.get("/<id:event_id>/feedback")
@staff_required
def feedback_list(event_id: int) -> str:
    """Every answer given after the event's meetings, with the figures, for coordinators."""
    event = db.get_or_404(Event, event_id)
    return render_template(
        "events/feedback_list.html",
        event=event,
        answers=meeting_feedback.event_feedback(
            event.id, page_number(request.args), current_app.config["REVIEW_PER_PAGE"]
        ),
        figures=meeting_feedback.figures(meeting_feedback.held_meetings(event.id)),
    )


# --- the marketplace -------------------------------------------------------------------------


def _marketplace_matches(participant: Participant | None) -> tuple[list, str | None]:
    """The participant's items with their closest counterparts, or why there are none."""
    if participant is None:
        return [], None
    try:
        return event_marketplace.counterparts(participant, get_engine().embedder), None
    except (OSError, RuntimeError) as error:  # the encoder cannot load (offline, no model)
        current_app.logger.warning("marketplace matching unavailable: %s", error)
        return [], _("Matching is unavailable just now; the list and its filter still work.")


@bp.route("/<id:event_id>/marketplace", methods=["GET", "POST"])
@login_required
def marketplace(event_id: int) -> str | Response:
    """The event's offers and needs, filtered by words; a participant posts its own here."""
    event = db.get_or_404(Event, event_id)
    own = participation.participant_of(event, current_user.profile)
    form = MarketplaceItemForm()
    if request.method == "POST":
        if own is None:
            flash(_("Register for this event before posting to its marketplace."), "error")
            return redirect(url_for("events.detail", event_id=event.id))
        if form.validate_on_submit():
            try:
                event_marketplace.post_item(own, form.kind.data, form.text.data, current_user)
            except participation.EventError as error:
                db.session.rollback()
                form.form_errors.append(_refused(error))
            else:
                db.session.commit()
                flash(_("Your item is on the marketplace."), "success")
                return redirect(url_for("events.marketplace", event_id=event.id))
    filters = MarketplaceFilterForm(request.args)
    filters.validate()
    kind = filters.kind.data if not filters.kind.errors and filters.kind.data else None
    matches, matching_unavailable = _marketplace_matches(own)
    page = render_template(
        "events/marketplace.html",
        event=event,
        own_participant=own,
        own_items=event_marketplace.items_of_participant(own) if own else [],
        max_items=MAX_ITEMS,
        is_open=event_marketplace.is_open(event),
        form=form,
        filters=filters,
        items=event_marketplace.find_items(
            event,
            (filters.q.data or "").strip() if not filters.q.errors else "",
            ItemKind(kind) if kind else None,
            page_number(request.args),
            current_app.config["PROFILES_PER_PAGE"],
        ),
        matches=matches,
        matching_unavailable=matching_unavailable,
        confirm_form=ConfirmForm(),
    )
    return (page, 400) if request.method == "POST" else page


@bp.route("/<id:event_id>/marketplace/<id:market_item_id>/remove", methods=["GET", "POST"])
@login_required
def remove_item(event_id: int, market_item_id: int) -> str | Response:
    """Remove a marketplace item, after a confirmation page."""
    event = db.get_or_404(Event, event_id)
    item = _of_event_or_404(MarketplaceItem, market_item_id, event)
    if not participation.may_act_for(current_user, item.participant.profile):
        abort(403)
    form = ConfirmForm()
    if form.validate_on_submit():
        event_marketplace.remove_item(item, current_user)
        db.session.commit()
        flash(_("The item is removed from the marketplace."), "success")
        return redirect(url_for("events.marketplace", event_id=event.id))
    return render_template("events/remove_item.html", event=event, item=item, form=form)
