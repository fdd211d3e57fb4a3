"""Forms of the introduction workflow."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from partnermatch import reference
from partnermatch.forms import options
from partnermatch.review.models import OUTCOMES
from partnermatch.review.services import MAX_NOTE


class RequestForm(FlaskForm):
    note = TextAreaField(
        "A note for the coordinators (optional)",
        validators=[Length(max=MAX_NOTE)],
        description=(
            "What you hope to do together. Your contact details stay private until both "
            "sides agree."
        ),
    )


class DecisionForm(FlaskForm):
    note = TextAreaField("Note (optional)", validators=[Length(max=MAX_NOTE)])


class RespondForm(FlaskForm):
    decision = RadioField(
        "Your answer",
        choices=options([("accept", "Accept the introduction"), ("decline", "Decline")]),
        validators=[DataRequired(message="Choose accept or decline.")],
    )
    reason = TextAreaField("Reason or message (optional)", validators=[Length(max=MAX_NOTE)])
    side = HiddenField(validators=[Optional()])


class OutcomeForm(FlaskForm):
    outcome = SelectField(
        "What came of it", choices=options((state.value, state.label) for state in OUTCOMES)
    )
    note = TextAreaField("Note (optional)", validators=[Length(max=MAX_NOTE)])


class QueueFilterForm(FlaskForm):
    """Filters of the review queue, read from the query string."""

    class Meta:
        csrf = False

    origin = SelectField(
        "Origin",
        choices=options(
            [
                ("", "Requests and suggestions"),
                ("requested", "SME requests"),
                ("suggested", "Cohort suggestions"),
            ]
        ),
        default="",
    )
    economy = SelectField(
        "SME economy",
        choices=options([("", "Any economy"), *((e.code, e.name) for e in reference.economies())]),
        default="",
    )
    sector = SelectField(
        "SME sector",
        choices=options([("", "Any sector"), *((t.code, t.label) for t in reference.SECTORS)]),
        default="",
    )


class BulkReviewForm(FlaskForm):
    match_ids = SelectMultipleField("Matches", coerce=int, validate_choice=False)
    action = SelectField("Action", choices=options([("approve", "Approve"), ("reject", "Reject")]))
    note = TextAreaField("Note for all selected (optional)", validators=[Length(max=MAX_NOTE)])
