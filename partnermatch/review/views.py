"""Pages of the introduction workflow: requests, the review queue, a match, my introductions."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import roles_required, staff_required
from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import explain_pair
from partnermatch.notifications.models import render_message
from partnermatch.pagination import page_number
from partnermatch.profiles.models import Profile
from partnermatch.reference import N_
from partnermatch.review import services
from partnermatch.review.forms import (
    BulkReviewForm,
    DecisionForm,
    MessageForm,
    OutcomeForm,
    QueueFilterForm,
    RequestForm,
    RespondForm,
)
from partnermatch.review.learning import current_weights
from partnermatch.review.models import Match, MatchOrigin, MatchState
from partnermatch.review.services import TransitionError

bp = Blueprint("review", __name__)

# The titles are translated where they are shown (the `translate` filter).
QUEUE_VIEWS = {
    "waiting": (N_("Waiting for review"), (MatchState.SUGGESTED,)),
    "sent": (N_("Introduction sent"), (MatchState.APPROVED,)),
    "introduced": (N_("Introduced"), (MatchState.INTRODUCED, MatchState.MEETING_HELD)),
    "closed": (
        N_("Closed"),
        (
            MatchState.PARTNERSHIP_FORMED,
            MatchState.NO_FIT,
            MatchState.REJECTED,
            MatchState.DECLINED,
        ),
    ),
}


def refusal(error: TransitionError) -> str:
    """Why a step was refused, in the reader's language."""
    return render_message(error.message, error.values)


def _visible_match_or_404(match_id: int) -> Match:
    match = db.get_or_404(Match, match_id)
    if not services.can_view(match, current_user):
        abort(404)  # not 403: whether a match exists between two others is private too
    return match


def _transition(match: Match, step, *args, success: str) -> Response:
    try:
        step(match, current_user, *args)
    except TransitionError as error:
        db.session.rollback()
        flash(refusal(error), "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("review.match", match_id=match.id))


@bp.route("/profiles/<id:profile_id>/introduction", methods=["GET", "POST"])
@roles_required(Role.SME)
def request_introduction(profile_id: int) -> str | Response:
    partner = db.get_or_404(Profile, profile_id)
    if partner.is_deleted:
        abort(404)
    form = RequestForm()
    if form.validate_on_submit():
        explanation = None
        if current_user.profile is not None:
            try:
                explanation = explain_pair(
                    get_engine(),
                    current_user.profile,
                    partner,
                    weights=current_weights(current_app.config),
                )
            except IndexUnavailable:
                explanation = None  # the coordinators review it without the factors
        try:
            match = services.request_introduction(
                current_user, partner, form.note.data, explanation
            )
        except TransitionError as error:
            db.session.rollback()
            flash(refusal(error), "error")
            return redirect(url_for("profiles.detail", profile_id=partner.id))
        db.session.commit()
        flash(
            _(
                "Your request to meet %(name)s goes to the programme coordinators. "
                "You will see their answer under My introductions.",
                name=partner.name,
            ),
            "success",
        )
        return redirect(url_for("review.match", match_id=match.id))
    return render_template("review/request.html", form=form, partner=partner)


@bp.get("/review/")
@staff_required
def queue() -> str:
    view = request.args.get("view", "waiting")
    if view not in QUEUE_VIEWS:
        view = "waiting"
    title, states = QUEUE_VIEWS[view]
    page = page_number(request.args)
    filters = QueueFilterForm(request.args)
    filters.validate()
    matches = services.review_queue(
        states,
        page,
        current_app.config["REVIEW_PER_PAGE"],
        origin=MatchOrigin(filters.origin.data)
        if filters.origin.data and not filters.origin.errors
        else None,
        sme_economy=filters.economy.data if not filters.economy.errors else None,
        sme_sector=filters.sector.data if not filters.sector.errors else None,
    )
    form = BulkReviewForm()
    form.match_ids.choices = [(match.id, str(match.id)) for match in matches.items]
    return render_template(
        "review/queue.html",
        matches=matches,
        view=view,
        views=QUEUE_VIEWS,
        title=title,
        form=form,
        filters=filters,
    )


@bp.post("/review/bulk")
@staff_required
def bulk_review() -> Response:
    form = BulkReviewForm()
    if not form.validate_on_submit() or not form.match_ids.data:
        flash(_("Select at least one suggested match, then approve or reject."), "error")
        return redirect(url_for("review.queue"))
    step = services.approve if form.action.data == "approve" else services.reject
    done, refused = 0, []
    for match in db.session.scalars(db.select(Match).where(Match.id.in_(form.match_ids.data))):
        try:
            with db.session.begin_nested():
                step(match, current_user, form.note.data)
        except TransitionError as error:
            refused.append(f"#{match.id}: {refusal(error)}")
        else:
            done += 1
    db.session.commit()
    if form.action.data == "approve":
        message = ngettext("%(num)d match approved.", "%(num)d matches approved.", done)
    else:
        message = ngettext("%(num)d match rejected.", "%(num)d matches rejected.", done)
    flash(message, "success")
    for message in refused:
        flash(message, "error")
    return redirect(url_for("review.queue"))


def _render_match(match: Match, message_form: MessageForm | None = None) -> str:
    side = services.side_of(match, current_user)
    own_answer = services.party_outcome(match, side) if side else None
    thread = (
        services.messages_page(match, page_number(request.args))
        if services.can_read_messages(match, current_user)
        else None
    )
    return render_template(
        "review/match.html",
        match=match,
        history=services.history_for(match, current_user),
        actions=services.available_actions(match, current_user),
        side=side,
        show_contacts=services.can_see_contacts(match, current_user),
        decision_form=DecisionForm(),
        respond_form=RespondForm(),
        outcome_form=OutcomeForm(outcome=own_answer.value if own_answer else None),
        answering_sides=services.answering_sides(match, current_user),
        unreachable=services.unreachable_sides(match),
        thread=thread,
        message_form=(message_form or MessageForm())
        if services.can_post_message(match, current_user)
        else None,
        max_message=services.MAX_MESSAGE,
        party_outcomes={side: services.party_outcome(match, side) for side in ("sme", "partner")},
    )


@bp.get("/matches/<id:match_id>")
@login_required
def match(match_id: int) -> str:
    match = _visible_match_or_404(match_id)
    page = _render_match(match)
    if services.can_read_messages(match, current_user):
        # Opening the page reads the thread: its unread count goes to zero.
        try:
            services.mark_messages_read(match, current_user)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # the same reader's other tab recorded it first
    return page


@bp.post("/matches/<id:match_id>/messages")
@login_required
def post_message(match_id: int) -> str | tuple[str, int] | Response:
    match = _visible_match_or_404(match_id)
    if not services.can_post_message(match, current_user):
        abort(403)
    form = MessageForm()
    if not form.validate_on_submit():
        return _render_match(match, form), 400
    try:
        services.post_message(match, current_user, form.body.data)
    except TransitionError as error:
        db.session.rollback()
        form.body.errors = [refusal(error)]
        return _render_match(match, form), 400
    db.session.commit()
    flash(_("Message sent."), "success")
    return redirect(url_for("review.match", match_id=match.id, _anchor="messages"))


@bp.post("/matches/<id:match_id>/approve")
@staff_required
def approve(match_id: int) -> Response:
    match = _visible_match_or_404(match_id)
    form = DecisionForm()
    form.validate_on_submit()
    return _transition(
        match,
        services.approve,
        form.note.data or "",
        success=_("Approved: the introduction is sent to both parties."),
    )


@bp.post("/matches/<id:match_id>/reject")
@staff_required
def reject(match_id: int) -> Response:
    match = _visible_match_or_404(match_id)
    form = DecisionForm()
    form.validate_on_submit()
    return _transition(
        match,
        services.reject,
        form.note.data or "",
        success=_("Rejected: this pair will not be suggested again."),
    )


@bp.post("/matches/<id:match_id>/respond")
@login_required
def respond(match_id: int) -> Response:
    match = _visible_match_or_404(match_id)
    form = RespondForm()
    if not form.validate_on_submit():
        flash(_("Choose accept or decline."), "error")
        return redirect(url_for("review.match", match_id=match.id))
    accept = form.decision.data == "accept"
    sides = services.answering_sides(match, current_user)
    side = form.side.data or (sides[0] if len(sides) == 1 else None)
    if accept and side in sides and side in services.unreachable_sides(match):
        flash(
            _(
                "Add a contact email to the profile of %(name)s before accepting: "
                "it is what the other party receives once both accept.",
                name=services.party(match, side).name,
            ),
            "error",
        )
        return redirect(url_for("review.match", match_id=match.id))
    return _transition(
        match,
        services.respond,
        accept,
        form.reason.data or "",
        form.side.data or None,
        success=_("Thank you: your answer is recorded.")
        if accept
        else _("You declined this introduction."),
    )


@bp.post("/matches/<id:match_id>/outcome")
@login_required
def outcome(match_id: int) -> Response:
    match = _visible_match_or_404(match_id)
    form = OutcomeForm()
    if not form.validate_on_submit():
        flash(_("Choose an outcome from the list."), "error")
        return redirect(url_for("review.match", match_id=match.id))
    return _transition(
        match,
        services.record_outcome,
        form.outcome.data,
        form.note.data or "",
        success=_("Thank you: your answer is recorded.")
        if services.side_of(match, current_user)
        else _("Outcome recorded."),
    )


@bp.get("/introductions")
@roles_required(Role.SME, Role.EXPERT)
def introductions() -> str:
    profile = current_user.profile
    return render_template(
        "review/introductions.html",
        profile=profile,
        matches=services.matches_of(profile) if profile else [],
        unread=services.unread_messages(current_user),
        outcome_waiting=services.outcome_waiting_for(current_user),
        requests=services.requests_of(profile) if profile else [],
    )
