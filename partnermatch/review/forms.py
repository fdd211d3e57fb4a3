"""Forms of the introduction workflow."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from partnermatch import reference
from partnermatch.forms import (
    Form,
    coerce_id,
    options,
    programme_economy_options,
    storable_text,
    term_options,
)
from partnermatch.review.models import OUTCOMES
from partnermatch.review.services import MAX_MESSAGE, MAX_NOTE


class RequestForm(Form):
    note = TextAreaField(
        _l("A note for the coordinators (optional)"),
        validators=[Length(max=MAX_NOTE), storable_text],
        description=_l(
            "What you hope to do together. Your contact details stay private until both "
            "sides agree."
        ),
    )


class DecisionForm(Form):
    note = TextAreaField(_l("Note (optional)"), validators=[Length(max=MAX_NOTE), storable_text])


class RespondForm(Form):
    decision = RadioField(
        _l("Your answer"),
        choices=options([("accept", _l("Accept the introduction")), ("decline", _l("Decline"))]),
        validators=[DataRequired(message=_l("Choose accept or decline."))],
    )
    reason = TextAreaField(
        _l("Reason or message (optional)"), validators=[Length(max=MAX_NOTE), storable_text]
    )
    side = HiddenField(validators=[Optional()])


class OutcomeForm(Form):
    outcome = SelectField(
        _l("What came of it"), choices=options((state.value, _l(state.label)) for state in OUTCOMES)
    )
    note = TextAreaField(_l("Note (optional)"), validators=[Length(max=MAX_NOTE), storable_text])


class MessageForm(Form):
    body = TextAreaField(
        _l("Your message"),
        validators=[
            DataRequired(message=_l("Write a message first.")),
            Length(max=MAX_MESSAGE),
            storable_text,
        ],
        description=_l("Plain text only; no attachments."),
    )


class QueueFilterForm(Form):
    """Filters of the review queue, read from the query string."""

    class Meta:
        csrf = False

    origin = SelectField(
        _l("Origin"),
        choices=options(
            [
                ("", _l("Requests and suggestions")),
                ("requested", _l("SME requests")),
                ("suggested", _l("Cohort suggestions")),
            ]
        ),
        default="",
    )
    economy = SelectField(
        _l("SME economy"),
        choices=lambda: programme_economy_options(blank=_l("Any economy")),
        default="",
    )
    sector = SelectField(
        _l("SME sector"),
        choices=options([("", _l("Any sector")), *term_options(reference.SECTORS)]),
        default="",
    )


class BulkReviewForm(Form):
    match_ids = SelectMultipleField(_l("Matches"), coerce=coerce_id, validate_choice=False)
    action = SelectField(
        _l("Action"), choices=options([("approve", _l("Approve")), ("reject", _l("Reject"))])
    )
    note = TextAreaField(
        _l("Note for all selected (optional)"), validators=[Length(max=MAX_NOTE), storable_text]
    )
