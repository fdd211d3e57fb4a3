"""Forms that start background jobs."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectMultipleField, StringField
from wtforms.validators import InputRequired, NumberRange
from wtforms.validators import ValidationError as FieldError

from partnermatch import reference
from partnermatch.forms import MultiCheckboxField, options


class CohortForm(FlaskForm):
    sectors = MultiCheckboxField(
        "SMEs of these sectors", choices=options((t.code, t.label) for t in reference.SECTORS)
    )
    economies = SelectMultipleField(
        "SMEs of these economies",
        choices=options((economy.code, economy.name) for economy in reference.economies()),
        description="None chosen: every economy. Hold Ctrl (or Cmd) to choose several.",
    )
    sme_ids = StringField(
        "Or exactly these SMEs",
        description="Profile numbers separated by commas (from the address of a profile page).",
    )
    k = IntegerField(
        "Suggestions per SME", default=3, validators=[InputRequired(), NumberRange(1, 10)]
    )
    share = DecimalField(
        "Least share from another economy",
        default=0.5,
        places=2,
        validators=[InputRequired(), NumberRange(0, 1)],
        description="0.5: at least half of each SME's suggestions come from other economies.",
    )
    capacity = IntegerField(
        "Introductions per partner this round",
        default=3,
        validators=[InputRequired(), NumberRange(0, 100)],
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
        return [int(part) for part in (self.sme_ids.data or "").replace(" ", "").split(",") if part]

    def validate_sme_ids(self, field: StringField) -> None:
        if not re.fullmatch(r"[\d,\s]*", field.data or ""):
            raise FieldError("Give profile numbers separated by commas, such as 12, 40, 41.")


class RebuildForm(FlaskForm):
    """No fields: the CSRF token alone."""
