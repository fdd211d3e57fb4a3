"""Profile, evidence and browse forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import Email, InputRequired, Length, NumberRange, Optional
from wtforms.validators import ValidationError as FieldError

from partnermatch import reference
from partnermatch.errors import ValidationError
from partnermatch.forms import MultiCheckboxField, options
from partnermatch.profiles.services import EvidenceInput, OrganisationInput, ProfileInput
from partnermatch.reference import Affiliation, EvidenceKind, OrganisationKind, ProfileKind


def _split_list(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


class ProfileForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[InputRequired(), Length(max=200)],
        description="Your company's name, or your own name for an expert profile.",
    )
    organisation_name = StringField(
        "Organisation",
        validators=[Length(max=200)],
        description="The company, university, institute or agency you belong to.",
    )
    organisation_kind = SelectField(
        "Kind of organisation", choices=options(reference.choices(OrganisationKind))
    )
    affiliation = SelectField(
        "Affiliation",
        choices=options(reference.choices(Affiliation)),
        description="Experts come from industry, government, academia or research institutes.",
    )
    economy = StringField(
        "Economy",
        validators=[InputRequired()],
        description="A name such as Viet Nam or Chinese Taipei, or a code such as VN.",
    )
    city = StringField("City", validators=[Length(max=120)])
    sectors = MultiCheckboxField(
        "Sectors", choices=options((term.code, term.label) for term in reference.SECTORS)
    )
    value_chain = MultiCheckboxField(
        "Value-chain positions",
        choices=options((term.code, term.label) for term in reference.VALUE_CHAIN),
        description="Where you work along the chain from materials to recycling, or beside it.",
    )
    summary = TextAreaField(
        "Summary",
        validators=[Length(max=5000)],
        description="What you make or study, with numbers: capacity, equipment, certifications.",
    )
    offers = TextAreaField(
        "What you offer",
        validators=[Length(max=5000)],
        description="What partners can get from you.",
    )
    needs = TextAreaField(
        "What you need",
        validators=[Length(max=5000)],
        description="What you are looking for in a partner.",
    )
    keywords = StringField("Keywords", description="Separated by commas.")
    languages = StringField(
        "Languages", description="Codes or names separated by commas, for example: en, zh, Thai."
    )
    website = URLField("Website", validators=[Optional(), Length(max=300)])
    introduction_capacity = IntegerField(
        "Introductions per round",
        validators=[Optional(), NumberRange(min=0, max=100)],
        description=(
            "How many introductions you accept in a programme round. "
            "Empty: the programme's default."
        ),
    )
    contact_email = EmailField(
        "Contact email",
        validators=[Optional(), Email(), Length(max=254)],
        description="Private: shown only to you and the programme coordinators.",
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

    def validate_economy(self, field: StringField) -> None:
        try:
            reference.normalise_economy(field.data or "")
        except ValidationError as error:
            raise FieldError(error.message) from None

    def validate_sectors(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise FieldError("Choose at least one sector.")

    def validate_value_chain(self, field: MultiCheckboxField) -> None:
        if not field.data:
            raise FieldError("Choose at least one value-chain position.")

    def fill_from(self, data: ProfileInput) -> None:
        """Prefill the form from a profile's current values."""
        self.name.data = data.name
        self.economy.data = reference.economy_name(data.economy)
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
        economy = self.economy.data or ""
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


class EvidenceForm(FlaskForm):
    kind = SelectField("Kind", choices=options(reference.choices(EvidenceKind)))
    title = StringField("Title", validators=[InputRequired(), Length(max=300)])
    text = TextAreaField(
        "Description",
        validators=[Length(max=20000)],
        description="An abstract, or what the project or product achieved.",
    )
    year = IntegerField("Year", validators=[Optional(), NumberRange(min=1900, max=2100)])
    url = URLField("Link", validators=[Optional(), Length(max=500)])

    def to_input(self) -> EvidenceInput:
        """Return the submitted values for the evidence service."""
        return EvidenceInput(
            kind=self.kind.data,
            title=self.title.data or "",
            text=self.text.data or "",
            year=self.year.data,
            url=self.url.data or "",
        )


class BrowseForm(FlaskForm):
    """Filters read from the query string of the browse page."""

    class Meta:
        csrf = False

    q = StringField("Search names and descriptions", validators=[Length(max=200)])
    kind = SelectField(
        "Kind", choices=options([("", "All"), *reference.choices(ProfileKind)]), default=""
    )
    affiliation = SelectMultipleField(
        "Affiliation", choices=options(reference.choices(Affiliation))
    )
    economy = SelectMultipleField(
        "Economy",
        choices=options((economy.code, economy.name) for economy in reference.economies()),
    )
    sector = SelectMultipleField(
        "Sector", choices=options((t.code, t.label) for t in reference.SECTORS)
    )
    value_chain = SelectMultipleField(
        "Value chain", choices=options((t.code, t.label) for t in reference.VALUE_CHAIN)
    )
    page = IntegerField("Page", validators=[Optional(), NumberRange(min=1)], default=1)
