"""Plain-language search for partners."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.jobs.tasks import catch_up_in_background
from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.search import search
from partnermatch.pagination import ResultPage
from partnermatch.profiles.services import filtered_profile_ids
from partnermatch.review import services as review
from partnermatch.search.forms import SearchForm
from partnermatch.shortlists import services as shortlists
from partnermatch.shortlists.views import csv_response, profile_url

bp = Blueprint("search", __name__, url_prefix="/search")
# When no match is good, the nearest few are shown (as weak) rather than an empty page.
NEAREST_WHEN_NONE_GOOD = 3
# The most rows a CSV export of a search holds (its best matches).
EXPORT_LIMIT = 500


def _export_filters(form: SearchForm):
    """The form's filters, leaving out the reader's own profile; and that profile."""
    filters = form.filters()
    own_profile = current_user.is_authenticated and current_user.profile
    if own_profile:
        # The page marks the reader's own profile among the results; an export lists partners.
        filters = replace(filters, exclude_profiles=(own_profile.id,))
    return filters, own_profile or None


@bp.get("/")
def index() -> str:
    form = SearchForm(request.args)
    form.validate()
    filters = form.filters()
    filters_active = filters != type(filters)()
    # A member's own profile stays in their results, marked as theirs: an expert checks
    # that way that new evidence is found.
    own_profile = current_user.is_authenticated and current_user.profile
    per_page = current_app.config["SEARCH_RESULTS_PER_PAGE"]
    page_number = form.page_number
    results = None
    found_facts = None
    catching_up = 0
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
                searcher=own_profile or None,
                min_strength=form.min_strength,
                nearest=NEAREST_WHEN_NONE_GOOD,
            )
        except IndexUnavailable as error:
            unavailable = str(error)
        else:
            results = ResultPage(found.results, page_number, per_page, found.total)
            found_facts = found
            catching_up = catch_up_in_background()
            if found.filtered_total == 0 and filters.economies:
                outside_economies = len(filtered_profile_ids(replace(filters, economies=())))
    return render_template(
        "search/index.html",
        form=form,
        filters=filters,
        filters_active=filters_active,
        results=results,
        found=found_facts,
        catching_up=catching_up,
        unavailable=unavailable,
        outside_economies=outside_economies,
        own_profile_id=own_profile.id if own_profile else None,
        open_matches=review.sme_matches_by_partner(current_user) if results else {},
        shortlisted=shortlists.saved_ids(current_user) if results else set(),
    )


@bp.get("/export.csv")
@login_required
def export() -> Response:
    """The search's results as CSV: the same words, filters and strength as the page."""
    form = SearchForm(request.args)
    form.validate()
    filters, own_profile = _export_filters(form)
    rows = []
    if form.query:
        try:
            found = search(
                get_engine(),
                form.query,
                filters,
                limit=EXPORT_LIMIT,
                searcher=own_profile,
                min_strength=form.min_strength,
            )
        except IndexUnavailable:
            # The search page says why and what happens next.
            return redirect(url_for("search.index", **request.args.to_dict(flat=False)))
        rows = [shortlists.ExportRow(result.profile, result.score) for result in found.results]
    return csv_response(
        shortlists.export_csv(rows, current_user, profile_url),
        shortlists.csv_filename("partnermatch-search-" + form.query[:40]),
    )
