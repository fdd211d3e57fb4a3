"""The search form, read from the query string."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import Length, Optional

from partnermatch import reference
from partnermatch.forms import (
    Form,
    WholeNumberField,
    economy_options,
    enum_options,
    options,
    storable_text,
    term_options,
)
from partnermatch.matching import strength
from partnermatch.profiles.services import ProfileFilters
from partnermatch.reference import Affiliation, ProfileKind

MAX_QUERY_CHARACTERS = 5000


class SearchForm(Form):
    class Meta:
        csrf = False

    q = TextAreaField(
        _l("What are you looking for?"),
        validators=[Length(max=MAX_QUERY_CHARACTERS), storable_text],
        description=_l(
            "Describe the partner in your own words: what they should know, make or offer."
        ),
    )
    kind = SelectField(
        _l("Kind"),
        choices=options([("", _l("SMEs and experts")), *enum_options(ProfileKind)]),
        default="",
    )
    affiliation = SelectMultipleField(_l("Affiliation"), choices=options(enum_options(Affiliation)))
    economy = SelectMultipleField(_l("Only in these economies"), choices=options(economy_options()))
    exclude_economy = SelectMultipleField(
        _l("Not in these economies"), choices=options(economy_options())
    )
    sector = SelectMultipleField(_l("Sector"), choices=options(term_options(reference.SECTORS)))
    value_chain = SelectMultipleField(
        _l("Value chain"), choices=options(term_options(reference.VALUE_CHAIN))
    )
    page = WholeNumberField(_l("Page"), validators=[Optional()], low=1, high=1000, default=1)
    weaker = BooleanField(_l("Show weaker matches too"))

    @property
    def query(self) -> str:
        return (self.q.data or "").strip() if not self.q.errors else ""

    @property
    def min_strength(self) -> str:
        """Strong and good matches by default; every match with "show weaker matches"."""
        return strength.WEAK if self.weaker.data else strength.GOOD

    @property
    def page_number(self) -> int:
        return self.page.data if self.page.data and not self.page.errors else 1

    def filters(self) -> ProfileFilters:
        """Return the chosen filters; values not in the vocabularies are dropped."""

        def valid(field: SelectMultipleField) -> tuple[str, ...]:
            allowed = {choice.value for choice in field.choices}
            return tuple(value for value in (field.data or []) if value in allowed)

        return ProfileFilters(
            kind=self.kind.data if self.kind.data in ("sme", "expert") else None,
            affiliations=valid(self.affiliation),
            economies=valid(self.economy),
            exclude_economies=valid(self.exclude_economy),
            sectors=valid(self.sector),
            value_chain=valid(self.value_chain),
        )
