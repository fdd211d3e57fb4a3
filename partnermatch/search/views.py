"""Plain-language search for partners."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.search import search
from partnermatch.pagination import ResultPage
from partnermatch.profiles.services import filtered_profile_ids
from partnermatch.search.forms import SearchForm

bp = Blueprint("search", __name__, url_prefix="/search")


@bp.get("/")
def index() -> str:
    form = SearchForm(request.args)
    form.validate()
    filters = form.filters()
    own_profile = current_user.is_authenticated and current_user.profile
    if own_profile:
        # People look for partners, not for themselves.
        filters = replace(filters, exclude_profiles=(own_profile.id,))
    per_page = current_app.config["SEARCH_RESULTS_PER_PAGE"]
    page_number = form.page_number
    results = None
    unavailable = None
    outside_economies = 0
    if form.query:
        try:
            found = search(
                get_engine(),
                form.query,
                filters,
                limit=per_page,
                offset=(page_number - 1) * per_page,
            )
        except IndexUnavailable as error:
            unavailable = str(error)
        else:
            results = ResultPage(found.results, page_number, per_page, found.total)
            if found.total == 0 and filters.economies:
                outside_economies = len(filtered_profile_ids(replace(filters, economies=())))
    return render_template(
        "search/index.html",
        form=form,
        filters=filters,
        results=results,
        unavailable=unavailable,
        outside_economies=outside_economies,
    )
