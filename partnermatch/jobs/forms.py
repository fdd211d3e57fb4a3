"""Forms that start background jobs."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, SelectMultipleField
from wtforms.validators import InputRequired, NumberRange

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
        }


class RebuildForm(FlaskForm):
    """No fields: the CSRF token alone."""
