"""Saved searches: save one from the search page, list, run, rename and delete them."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.forms import show_validation_error
from partnermatch.pagination import page_number
from partnermatch.profiles.forms import ConfirmForm
from partnermatch.saved_searches import services
from partnermatch.saved_searches.forms import SavedSearchNameForm
from partnermatch.saved_searches.models import SavedSearch
from partnermatch.search.forms import SearchForm

bp = Blueprint("saved_searches", __name__, url_prefix="/saved-searches")


def _own_or_404(search_id: int) -> SavedSearch:
    saved = db.get_or_404(SavedSearch, search_id)
    if saved.user_id != current_user.id:
        abort(404)
    return saved


@bp.get("/")
@login_required
def index() -> str:
    return render_template(
        "saved_searches/index.html",
        searches=services.saved_searches_page(
            current_user, page_number(request.args), current_app.config["PROFILES_PER_PAGE"]
        ),
        search_args=services.search_args,
        rename_form=SavedSearchNameForm(formdata=None),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> str | Response:
    # The search itself travels in the query string, on the page and on its form's action.
    search = SearchForm(request.args)
    search.validate()
    if not search.query:
        flash(_("Search for something first, then save the search."), "info")
        return redirect(url_for("search.index"))
    form = SavedSearchNameForm()
    if request.method == "GET":
        form.name.data = search.query[: services.MAX_NAME]
    if form.validate_on_submit():
        try:
            services.create(current_user, form.name.data, search.query, search.filters())
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(_("Search saved. Its weekly digest will tell you of new matches."), "success")
            return redirect(url_for("saved_searches.index"))
    return render_template("saved_searches/new.html", form=form, search=search)


@bp.post("/<id:search_id>/rename")
@login_required
def rename(search_id: int) -> str | Response:
    saved = _own_or_404(search_id)
    form = SavedSearchNameForm()
    if form.validate_on_submit():
        try:
            services.rename(saved, form.name.data)
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(_("Search renamed."), "success")
            return redirect(url_for("saved_searches.index"))
    return render_template("saved_searches/rename.html", form=form, saved=saved)


@bp.route("/<id:search_id>/delete", methods=["GET", "POST"])
@login_required
def delete(search_id: int) -> str | Response:
    saved = _own_or_404(search_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("saved_searches/confirm_delete.html", form=form, saved=saved)
    services.delete(saved)
    db.session.commit()
    flash(_("Saved search deleted."), "info")
    return redirect(url_for("saved_searches.index"))
