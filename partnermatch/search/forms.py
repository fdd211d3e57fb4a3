"""The search form, read from the query string."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from partnermatch import reference
from partnermatch.forms import options
from partnermatch.profiles.services import ProfileFilters
from partnermatch.reference import Affiliation, ProfileKind

MAX_QUERY_CHARACTERS = 5000


def _economy_options():
    return options((economy.code, economy.name) for economy in reference.economies())


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = TextAreaField(
        "What are you looking for?",
        validators=[Length(max=MAX_QUERY_CHARACTERS)],
        description="Describe the partner in your own words: what they should know, make or offer.",
    )
    kind = SelectField(
        "Kind",
        choices=options([("", "SMEs and experts"), *reference.choices(ProfileKind)]),
        default="",
    )
    affiliation = SelectMultipleField(
        "Affiliation", choices=options(reference.choices(Affiliation))
    )
    economy = SelectMultipleField("Only in these economies", choices=_economy_options())
    exclude_economy = SelectMultipleField("Not in these economies", choices=_economy_options())
    sector = SelectMultipleField(
        "Sector", choices=options((t.code, t.label) for t in reference.SECTORS)
    )
    value_chain = SelectMultipleField(
        "Value chain", choices=options((t.code, t.label) for t in reference.VALUE_CHAIN)
    )
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1, max=1000)], default=1)

    @property
    def query(self) -> str:
        return (self.q.data or "").strip() if not self.q.errors else ""

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
