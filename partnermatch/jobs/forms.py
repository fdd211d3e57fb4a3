"""Forms that start background jobs."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, NumberRange
from wtforms.validators import ValidationError as FieldError

from partnermatch import reference
from partnermatch.errors import ValidationError
from partnermatch.forms import (
    Form,
    MultiCheckboxField,
    WholeNumberField,
    options,
    programme_economy_options,
    term_options,
)
from partnermatch.inputs import parse_id


class CohortForm(Form):
    sectors = MultiCheckboxField(
        _l("SMEs of these sectors"), choices=options(term_options(reference.SECTORS))
    )
    economies = SelectMultipleField(
        _l("SMEs of these economies"),
        choices=lambda: programme_economy_options(),
        description=_l("None chosen: every economy. Hold Ctrl (or Cmd) to choose several."),
    )
    sme_ids = StringField(
        _l("Or exactly these SMEs"),
        description=_l("Profile numbers separated by commas (from the address of a profile page)."),
    )
    k = WholeNumberField(
        _l("Suggestions per SME"), default=3, validators=[InputRequired()], low=1, high=10
    )
    share = DecimalField(
        _l("Least share from another economy"),
        default=0.5,
        places=2,
        validators=[InputRequired(), NumberRange(0, 1)],
        description=_l("0.5: at least half of each SME's suggestions come from other economies."),
    )
    capacity = WholeNumberField(
        _l("Introductions per partner this round"),
        default=3,
        validators=[InputRequired()],
        low=0,
        high=100,
    )

    def params(self) -> dict[str, Any]:
        """Return the job's parameters."""
        return {
            "sectors": self.sectors.data or [],
            "economies": self.economies.data or [],
            "k": self.k.data,
            "share": float(self.share.data),
            "capacity": self.capacity.data,
            "sme_ids": self.chosen_ids(),
        }

    def chosen_ids(self) -> list[int]:
        """Return the hand-picked SME profile numbers."""
        return [parse_id(part, "sme_ids") for part in self._parts()]

    def _parts(self) -> list[str]:
        return [part for part in (self.sme_ids.data or "").replace(" ", "").split(",") if part]

    def validate_sme_ids(self, field: StringField) -> None:
        try:
            self.chosen_ids()
        except ValidationError:
            raise FieldError(
                _l("Give profile numbers separated by commas, such as 12, 40, 41.")
            ) from None


class RebuildForm(Form):
    """No fields: the CSRF token alone."""
