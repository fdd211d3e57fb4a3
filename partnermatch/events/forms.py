"""Event forms: the coordinator's event, registrations, requests to meet, answers, marks."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.validators import ValidationError as FieldError

from partnermatch.events import services
from partnermatch.events.models import (
    MAX_ITEM,
    MEETING_LENGTHS,
    AgendaState,
    ItemKind,
    NextStep,
    Pairing,
    Preference,
    Usefulness,
)
from partnermatch.events.participation import MAX_REASON
from partnermatch.forms import (
    Form,
    MultiCheckboxField,
    WholeNumberField,
    coerce_id,
    options,
    storable_text,
)

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def _window(label) -> DateTimeLocalField:
    return DateTimeLocalField(label, format=DATETIME_FORMAT, validators=[Optional()])


class EventForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200), storable_text])
    venue = StringField(_l("Venue"), validators=[Length(max=200), storable_text])
    timezone = StringField(
        _l("Time zone"),
        default="Asia/Taipei",
        validators=[DataRequired(), Length(max=64)],
        description=_l("An IANA time zone name, such as Asia/Taipei or Europe/Berlin."),
    )
    meeting_minutes = SelectField(
        _l("Meeting length"),
        coerce=int,
        default=20,
        choices=options(
            (minutes, _l("%(minutes)s minutes", minutes=minutes)) for minutes in MEETING_LENGTHS
        ),
    )
    tables = WholeNumberField(
        _l("Tables"), default=10, validators=[InputRequired()], low=1, high=1000
    )
    sessions = TextAreaField(
        _l("Sessions"),
        validators=[DataRequired()],
        description=_l(
            "One session a line, as day and times in the event's time zone: "
            "2027-03-10 09:00-12:00. Breaks are the gaps between sessions."
        ),
    )
    registration_opens = _window(_l("Registration opens"))
    registration_closes = _window(_l("Registration closes"))
    requests_open = _window(_l("Meeting requests open"))
    requests_close = _window(_l("Meeting requests close"))
    pairing = RadioField(
        _l("Who may meet whom"),
        default=Pairing.ANY.value,
        choices=options((pairing.value, _l(pairing.label)) for pairing in Pairing),
    )
    review_requests = BooleanField(_l("A coordinator reviews each meeting request first"))

    def validate_timezone(self, field: StringField) -> None:
        field.data = (field.data or "").strip()
        if not services.is_time_zone(field.data):
            raise FieldError(_l("This is not a time zone name we know, such as Asia/Taipei."))

    def validate_sessions(self, field: TextAreaField) -> None:
        try:
            parsed = services.parse_sessions(field.data or "")
        except services.SessionSyntaxError as error:
            raise FieldError(
                _l(
                    'Line %(number)s, "%(line)s", is not a day and times such as '
                    "2027-03-10 09:00-12:00, with the start before the end.",
                    number=error.line_number,
                    line=error.line,
                )
            ) from None
        if not parsed:
            raise FieldError(_l("Give at least one session."))
        clashes = services.overlapping(parsed)
        if clashes:
            first, second = clashes[0]
            raise FieldError(
                _l(
                    "Sessions %(first)s and %(second)s overlap. Sessions of one day must not "
                    "overlap; a break is the gap between two sessions.",
                    first=str(first),
                    second=str(second),
                )
            )
        self.parsed_sessions = parsed

    def validate_registration_closes(self, field: DateTimeLocalField) -> None:
        opens = self.registration_opens.data
        if opens and field.data and field.data <= opens:
            raise FieldError(_l("Registration must close after it opens."))

    def validate_requests_close(self, field: DateTimeLocalField) -> None:
        opens = self.requests_open.data
        if opens and field.data and field.data <= opens:
            raise FieldError(_l("Meeting requests must close after they open."))

    def event_input(self) -> services.EventInput:
        return services.EventInput(
            name=self.name.data.strip(),
            venue=(self.venue.data or "").strip(),
            timezone=self.timezone.data,
            meeting_minutes=self.meeting_minutes.data,
            tables=self.tables.data,
            sessions=self.parsed_sessions,
            pairing=Pairing(self.pairing.data),
            review_requests=bool(self.review_requests.data),
            registration_opens=self.registration_opens.data,
            registration_closes=self.registration_closes.data,
            requests_open=self.requests_open.data,
            requests_close=self.requests_close.data,
        )


class RegistrationForm(Form):
    """A registration: the profile (coordinators choose it), sessions attended, a cap."""

    profile_id = SelectField(_l("Profile"), coerce=coerce_id)
    sessions = MultiCheckboxField(
        _l("Sessions you attend"),
        coerce=int,
        validators=[DataRequired(message=_l("Choose at least one session you will attend."))],
    )
    meeting_cap = WholeNumberField(
        _l("Most meetings you want"),
        validators=[Optional()],
        low=0,
        high=100,
        description=_l("Leave it empty to meet as many people as the sessions allow."),
    )


class ConfirmForm(Form):
    """A confirmation of a destructive step: only its CSRF token."""


class AskForm(Form):
    reason = TextAreaField(
        _l("Why meet"),
        validators=[DataRequired(), Length(max=MAX_REASON), storable_text],
        description=_l(
            "A sentence or two: what you would discuss. The other side reads it before "
            "answering; contact details stay private."
        ),
    )


class DecisionForm(Form):
    """Two buttons of one form, named "decision": accept or decline, approve or reject."""

    decision = SelectField(
        choices=options(
            [
                ("accept", _l("Accept")),
                ("decline", _l("Decline")),
                ("approve", _l("Approve")),
                ("reject", _l("Reject")),
            ]
        ),
        validators=[DataRequired()],
    )


class PreferenceForm(Form):
    choice = SelectField(
        choices=options((choice.value, _l(choice.label)) for choice in Preference),
        validators=[DataRequired()],
    )


class PublishForm(Form):
    stage = SelectField(
        choices=options(
            [
                (AgendaState.PRELIMINARY.value, _l(AgendaState.PRELIMINARY.label)),
                (AgendaState.FINAL.value, _l(AgendaState.FINAL.label)),
            ]
        ),
        validators=[DataRequired()],
    )


class MoveForm(Form):
    """Another slot and table for a meeting; the choices are the event's (set by the view)."""

    slot = SelectField(_l("Time"), validators=[DataRequired()])
    table = SelectField(_l("Table"), coerce=coerce_id, validators=[DataRequired()])


class SwapForm(Form):
    """Another meeting of the event whose time and table this one takes (set by the view)."""

    other = SelectField(_l("Swap with"), coerce=coerce_id, validators=[DataRequired()])


class ThirdPartyForm(Form):
    """A third participant to seat at a meeting; the choices are the event's (set by the view)."""

    participant = SelectField(
        _l("Third participant"), coerce=coerce_id, validators=[DataRequired()]
    )


class FeedbackForm(Form):
    """A party's two answers after a meeting, with an optional note."""

    useful = RadioField(
        _l("Was the meeting useful?"),
        choices=options((choice.value, _l(choice.label)) for choice in Usefulness),
        validators=[InputRequired()],
    )
    next_step = RadioField(
        _l("What next?"),
        choices=options((choice.value, _l(choice.label)) for choice in NextStep),
        validators=[InputRequired()],
    )
    note = TextAreaField(
        _l("Note (optional)"), validators=[Optional(), Length(max=1000), storable_text]
    )


class MarketplaceItemForm(Form):
    """One short "we offer" or "we seek" for the event's marketplace."""

    kind = RadioField(
        _l("This item says"),
        choices=options((choice.value, _l(choice.label)) for choice in ItemKind),
        default=ItemKind.OFFER.value,
        validators=[InputRequired()],
    )
    text = TextAreaField(
        _l("What you offer or seek"),
        description=_l("A line or two, at most %(count)s characters.", count=MAX_ITEM),
        validators=[DataRequired(), Length(max=MAX_ITEM), storable_text],
    )


class MarketplaceFilterForm(Form):
    """The marketplace's filters, read from the query string."""

    class Meta:
        csrf = False

    q = StringField(_l("Words in the items"), validators=[Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=options(
            [("", _l("Offers and needs")), *((c.value, _l(c.label)) for c in ItemKind)]
        ),
        default="",
    )
