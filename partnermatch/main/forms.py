"""Forms of the home pages."""

from __future__ import annotations

from partnermatch.forms import Form


class ReminderForm(Form):
    """A one-click reminder: nothing to fill in, only the CSRF token."""
