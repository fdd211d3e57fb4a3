"""The landing page: what PartnerMatch is, and each role's next step."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from partnermatch.api.openapi import openapi_document
from partnermatch.profiles.services import programme_counts
from partnermatch.profiles.views import partner_suggestions

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> str:
    own_profile = current_user.profile if current_user.is_authenticated else None
    suggestions = partner_suggestions(own_profile) if own_profile is not None else {}
    return render_template(
        "main/index.html", counts=programme_counts(), own_profile=own_profile, **suggestions
    )


@bp.get("/api-docs")
def api_docs() -> str:
    return render_template("main/api_docs.html", document=openapi_document())
