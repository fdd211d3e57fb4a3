"""Profile, evidence and browse forms."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import Email, InputRequired, Length, Optional
from wtforms.validators import ValidationError as FieldError

from partnermatch import reference
from partnermatch.errors import ValidationError
from partnermatch.forms import (
    Form,
    MultiCheckboxField,
    WholeNumberField,
    economy_options,
    enum_options,
    options,
    term_options,
)
from partnermatch.i18n import economy_code, economy_name
from partnermatch.pagination import MAX_PAGE
from partnermatch.profiles.services import (
    MAX_CAPACITY,
    EvidenceInput,
    OrganisationInput,
    ProfileFilters,
    ProfileInput,
)
from partnermatch.reference import Affiliation, EvidenceKind, OrganisationKind, ProfileKind


def _split_list(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


class ProfileForm(Form):
    name = StringField(
        _l("Name"),
        validators=[InputRequired(), Length(max=200)],
        description=_l("Your company's name, or your own name for an expert profile."),
    )
    organisation_name = StringField(
        _l("Organisation"),
        validators=[Length(max=200)],
        description=_l("The company, university, institute or agency you belong to."),
    )
    organisation_kind = SelectField(
        _l("Kind of organisation"), choices=options(enum_options(OrganisationKind))
    )
    affiliation = SelectField(
        _l("Affiliation"),
        choices=options(enum_options(Affiliation)),
        description=_l("Experts come from industry, government, academia or research institutes."),
    )
    economy = StringField(
        _l("Economy"),
        validators=[InputRequired()],
        description=_l("A name such as Viet Nam or Chinese Taipei, or a code such as VN."),
    )
    city = StringField(_l("City"), validators=[Length(max=120)])
    sectors = MultiCheckboxField(_l("Sectors"), choices=options(term_options(reference.SECTORS)))
    value_chain = MultiCheckboxField(
        _l("Value-chain positions"),
        choices=options(term_options(reference.VALUE_CHAIN)),
        description=_l("Where you work along the chain from materials to recycling, or beside it."),
    )
    summary = TextAreaField(
        _l("Summary"),
        validators=[Length(max=5000)],
        description=_l(
            "What you make or study, with numbers: capacity, equipment, certifications."
        ),
    )
    offers = TextAreaField(
        _l("What you offer"),
        validators=[Length(max=5000)],
        description=_l("What partners can get from you."),
    )
    needs = TextAreaField(
        _l("What you need"),
        validators=[Length(max=5000)],
        description=_l("What you are looking for in a partner."),
    )
    keywords = StringField(_l("Keywords"), description=_l("Separated by commas."))
    languages = StringField(
        _l("Languages"),
        description=_l("Codes or names separated by commas, for example: en, zh, Thai."),
    )
    website = URLField(_l("Website"), validators=[Optional(), Length(max=300)])
    introduction_capacity = WholeNumberField(
        _l("Introductions per round"),
        validators=[Optional()],
        low=0,
        high=MAX_CAPACITY,
        description=(
            _l(
                "How many introductions you accept in a programme round. "
                "Empty: the programme's default."
            )
        ),
    )
    contact_email = EmailField(
        _l("Contact email"),
        validators=[Optional(), Email(), Length(max=254)],
        description=_l("Private: shown only to you and the programme coordinators."),
    )

    def __init__(self, *args: object, kind: ProfileKind, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        if kind is ProfileKind.SME:
            # SMEs are industry by definition; the field is not shown to them.
            self.affiliation.data = Affiliation.INDUSTRY.value
            self.organisation_kind.choices = [
                choice
                for choice in self.organisation_kind.choices
                if choice.value in ("sme", "company")
            ]

    def _economy(self) -> str:
        """The economy as typed, or its code when typed as the page's language names it."""
        typed = self.economy.data or ""
        return economy_code(typed) or typed

    def validate_economy(self, field: StringField) -> None:
        typed = self._economy()
        try:
            reference.normalise_economy(typed)
        except ValidationError:
            # The vocabulary's own message, in the language of the page.
            if not typed.strip():
                raise FieldError(
                    _("Give an economy, as a name (Viet Nam) or a code (VN).")
                ) from None
            raise FieldError(
                _(
                    "Unknown economy '%(value)s': use a name such as 'Viet Nam' or a code "
                    "such as 'VN'.",
                    value=typed,
                )
            ) from None

    def validate_sectors(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise FieldError(_l("Choose at least one sector."))

    def validate_value_chain(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise FieldError(_l("Choose at least one value-chain position."))

    def fill_from(self, data: ProfileInput) -> None:
        """Prefill the form from a profile's current values."""
        self.name.data = data.name
        self.economy.data = economy_name(data.economy)
        self.affiliation.data = str(data.affiliation)
        self.city.data = data.city
        self.sectors.data = list(data.sectors)
        self.value_chain.data = list(data.value_chain)
        self.summary.data = data.summary
        self.offers.data = data.offers
        self.needs.data = data.needs
        self.keywords.data = ", ".join(data.keywords)
        self.languages.data = ", ".join(data.languages)
        self.website.data = data.website
        self.contact_email.data = data.contact_email
        self.introduction_capacity.data = data.introduction_capacity
        if data.organisation:
            self.organisation_name.data = data.organisation.name
            self.organisation_kind.data = str(data.organisation.kind)

    def to_input(self) -> ProfileInput:
        """Return the submitted values for the profile service."""
        economy = self._economy()
        return ProfileInput(
            name=self.name.data or "",
            economy=economy,
            affiliation=Affiliation.INDUSTRY
            if self.kind is ProfileKind.SME
            else self.affiliation.data,
            city=self.city.data or "",
            sectors=tuple(self.sectors.data or ()),
            value_chain=tuple(self.value_chain.data or ()),
            summary=self.summary.data or "",
            offers=self.offers.data or "",
            needs=self.needs.data or "",
            keywords=_split_list(self.keywords.data),
            languages=_split_list(self.languages.data),
            website=self.website.data or "",
            contact_email=self.contact_email.data or "",
            introduction_capacity=self.introduction_capacity.data,
            organisation=OrganisationInput(
                name=self.organisation_name.data, kind=self.organisation_kind.data, economy=economy
            )
            if (self.organisation_name.data or "").strip()
            else None,
        )


class EvidenceForm(Form):
    kind = SelectField(_l("Kind"), choices=options(enum_options(EvidenceKind)))
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=300)])
    text = TextAreaField(
        _l("Description"),
        validators=[Length(max=20000)],
        description=_l("An abstract, or what the project or product achieved."),
    )
    year = WholeNumberField(_l("Year"), validators=[Optional()], low=1900, high=2100)
    url = URLField(_l("Link"), validators=[Optional(), Length(max=500)])

    def to_input(self) -> EvidenceInput:
        """Return the submitted values for the evidence service."""
        return EvidenceInput(
            kind=self.kind.data,
            title=self.title.data or "",
            text=self.text.data or "",
            year=self.year.data,
            url=self.url.data or "",
        )


class ConfirmForm(Form):
    """A destructive action's confirmation: nothing to fill in but the CSRF token."""


class BrowseForm(Form):
    """Filters read from the query string of the browse page."""

    class Meta:
        csrf = False

    q = StringField(_l("Search names and descriptions"), validators=[Length(max=200)])
    kind = SelectField(
        _l("Kind"), choices=options([("", _l("All")), *enum_options(ProfileKind)]), default=""
    )
    affiliation = SelectMultipleField(_l("Affiliation"), choices=options(enum_options(Affiliation)))
    economy = SelectMultipleField(
        _l("Economy"),
        choices=options(economy_options()),
    )
    sector = SelectMultipleField(_l("Sector"), choices=options(term_options(reference.SECTORS)))
    value_chain = SelectMultipleField(
        _l("Value chain"), choices=options(term_options(reference.VALUE_CHAIN))
    )
    page = WholeNumberField(_l("Page"), validators=[Optional()], low=1, high=MAX_PAGE, default=1)

    def profile_filters(self, **extra: Any) -> ProfileFilters:
        """Return the filters the validated query string asks for (call validate() first).

        Unknown facet values in a hand-edited URL are dropped rather than failing the page.
        """
        valid = {
            name: tuple(
                value
                for value in (getattr(self, name).data or [])
                if value in {choice.value for choice in getattr(self, name).choices}
            )
            for name in ("affiliation", "economy", "sector", "value_chain")
        }
        return ProfileFilters(
            text=(self.q.data or "").strip() if not self.q.errors else "",
            kind=self.kind.data or None if not self.kind.errors else None,
            affiliations=valid["affiliation"],
            economies=valid["economy"],
            sectors=valid["sector"],
            value_chain=valid["value_chain"],
            **extra,
        )

    @property
    def page_number(self) -> int:
        """The page asked for, 1 when it is missing or not a page number."""
        return self.page.data if self.page.data and not self.page.errors else 1
