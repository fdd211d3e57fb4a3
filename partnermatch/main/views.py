"""The landing page: what PartnerMatch is, and each role's next step."""

from __future__ import annotations

from flask import Blueprint, render_template

from partnermatch.profiles.services import programme_counts

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    return render_template("main/index.html", counts=programme_counts())
