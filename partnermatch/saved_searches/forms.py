"""Naming a saved search."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from partnermatch.forms import Form, storable_text
from partnermatch.saved_searches.services import MAX_NAME


class SavedSearchNameForm(Form):
    name = StringField(
        _l("Name of the search"),
        validators=[InputRequired(), Length(max=MAX_NAME), storable_text],
        description=_l("You will find it under this name, and so will its weekly digest."),
    )
