"""Form pieces shared by several blueprints."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from flask import request
from flask_babel import LazyString, get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import IntegerField, SelectChoice, SelectMultipleField
from wtforms.validators import ValidationError as FieldError
from wtforms.widgets import CheckboxInput, ListWidget

from partnermatch import reference
from partnermatch.errors import ValidationError
from partnermatch.i18n import economy_name
from partnermatch.inputs import clean_text, parse_id, parse_int


class _InterfaceTranslations:
    """WTForms' built-in messages ("This field is required.") from the interface catalogue.

    WTForms ships no Vietnamese or Indonesian messages, and would answer zh_Hant in simplified
    characters: the messages it uses are listed in partnermatch/i18n.py and translated with
    the rest of the interface.
    """

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


_TRANSLATIONS = _InterfaceTranslations()


class Form(FlaskForm):
    """The base of every form: a Flask-WTF form that speaks the language of the page."""

    class Meta:
        def get_translations(self, form: FlaskForm) -> _InterfaceTranslations:
            return _TRANSLATIONS

        def wrap_formdata(self, form: FlaskForm, formdata: Any) -> Any:
            # No form here takes a file. Flask-WTF would merge uploaded files into the form
            # data, and a file part named like a text field would reach the validators as a
            # FileStorage (a TypeError, a 500): read only the text fields.
            data = super().wrap_formdata(form, formdata)
            if isinstance(data, CombinedMultiDict):
                return request.form
            return data


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WholeNumberField(IntegerField):
    """A whole number from `low` to `high`, read by the application's one integer parser.

    WTForms' IntegerField takes whatever int() takes ("٣", 5,000 digits is an error of its
    own) and no upper bound unless a validator adds one: a page past 2^63 reached the
    database. Empty input is None (add Optional() or InputRequired() as usual).
    """

    def __init__(
        self, label: Any = None, validators: Any = None, *, low: int, high: int, **kwargs: Any
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.low, self.high = low, high

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist:
            return
        try:
            self.data = parse_int(valuelist[0], self.name, low=self.low, high=self.high)
            if self.data is None:  # blank: Optional() lets it through, InputRequired() not
                raise ValidationError(self.name, "blank")
        except ValidationError:
            self.data = None
            raise ValueError(
                self.gettext("Give a whole number from %(low)s to %(high)s.")
                % {"low": self.low, "high": self.high}
            ) from None


def storable_text(form: FlaskForm, field: Any) -> None:
    """A validator: refuse text the database cannot store (NUL, lone surrogates), with a
    message on the field (the services refuse it too, in English)."""
    try:
        clean_text(field.data, field.name)
    except ValidationError:
        raise FieldError(
            _l("The text holds a character that cannot be read (NUL or invalid Unicode).")
        ) from None


def coerce_id(value: Any) -> int:
    """Coerce a submitted id for a choice field: ValueError (WTForms' message) if it is none."""
    try:
        return parse_id(value, "id")
    except ValidationError:
        raise ValueError("not an id") from None


def options(pairs: Iterable[tuple[str, Any]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into choices for a select, radio or checkbox field."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def enum_options(enum_cls: type[StrEnum]) -> list[tuple[str, LazyString]]:
    """Return (value, label) pairs of a vocabulary enum, labels translated when shown."""
    return [(value, _l(label)) for value, label in reference.choices(enum_cls)]


def term_options(terms: Iterable[reference.Term]) -> list[tuple[str, LazyString]]:
    """Return (code, label) pairs of sectors or value-chain positions, labels translated."""
    return [(term.code, _l(term.label)) for term in terms]


def economy_options() -> list[tuple[str, LazyString]]:
    """Return (code, name) pairs of every economy, each named in the language of the page."""
    return [
        (economy.code, LazyString(economy_name, economy.code)) for economy in reference.economies()
    ]


def programme_economy_options(blank: str | LazyString | None = None) -> list[SelectChoice]:
    """Return the economy choices grouped for a staff filter: the programme's economies (those
    with profiles) first, then every other one, each in an <optgroup>; `blank` (such as "Any
    economy") leads outside the groups."""
    from partnermatch.profiles.services import programme_economies

    present = programme_economies()
    ours, others = str(_l("Economies in the programme")), str(_l("Other economies"))
    grouped = [
        SelectChoice(code, label, optgroup=ours if code in present else others)
        for code, label in economy_options()
    ]
    grouped.sort(key=lambda choice: choice.optgroup != ours)  # stable: APEC order kept
    return ([SelectChoice("", blank)] if blank is not None else []) + grouped


def show_validation_error(form: FlaskForm, error: ValidationError) -> None:
    """Attach a domain ValidationError to the form field it names (or to the whole form)."""
    field = getattr(form, error.field, None)
    if field is not None and hasattr(field, "errors"):
        if isinstance(field.errors, tuple):
            field.errors = list(field.errors)
        field.errors.append(error.message)
    else:
        form.form_errors.append(error.message)
