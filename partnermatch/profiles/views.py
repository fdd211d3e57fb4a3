"""Profile pages: browse, view, create and edit one's own, evidence items."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import roles_required, staff_required
from partnermatch.auth.models import Role
from partnermatch.errors import ValidationError
from partnermatch.events.participation import events_for
from partnermatch.extensions import db
from partnermatch.forms import show_validation_error
from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import recommend, similar_profiles
from partnermatch.pagination import page_number
from partnermatch.profiles import services
from partnermatch.profiles.forms import BrowseForm, ConfirmForm, EvidenceForm, ProfileForm
from partnermatch.profiles.models import EvidenceItem, Profile
from partnermatch.review import services as review
from partnermatch.review.learning import current_weights
from partnermatch.shortlists import services as shortlists

bp = Blueprint("profiles", __name__, url_prefix="/profiles")


def _profile_or_404(profile_id: int) -> Profile:
    """A live profile; a deleted one only for those who may restore it."""
    profile = db.get_or_404(Profile, profile_id)
    if profile.is_deleted and not services.can_edit_profile(current_user, profile):
        abort(404)
    return profile


def _editable_profile_or_403(profile_id: int) -> Profile:
    profile = _profile_or_404(profile_id)
    if not services.can_edit_profile(current_user, profile):
        abort(403)
    if profile.is_deleted:
        abort(404)  # restore it first
    return profile


def _evidence_or_404(profile: Profile, item_id: int) -> EvidenceItem:
    item = db.get_or_404(EvidenceItem, item_id)
    if item.profile_id != profile.id:
        abort(404)
    return item


@bp.get("/")
def browse() -> str:
    form = BrowseForm(request.args)
    form.validate()
    filters = form.profile_filters()
    results = services.browse_profiles(
        filters, form.page_number, current_app.config["PROFILES_PER_PAGE"]
    )
    return render_template(
        "profiles/browse.html",
        form=form,
        filters=filters,
        results=results,
        facets=services.facet_counts(filters),
    )


def partner_suggestions(profile: Profile) -> dict[str, object]:
    """Recommended partners (and, for staff, similar experts) for a profile page."""
    engine = get_engine()
    shown = current_app.config["RECOMMENDATIONS_SHOWN"]
    try:
        recommendations = recommend(
            engine,
            profile,
            shown,
            weights=current_weights(current_app.config),
            min_strength=current_app.config["RECOMMEND_MIN_STRENGTH"],
            exclude=sorted(review.matched_profile_ids(profile)),
        )
        similar = (
            similar_profiles(engine, profile, shown, kind="expert")
            if current_user.is_authenticated and current_user.is_staff
            else []
        )
    except IndexUnavailable as error:
        return {"recommendations": [], "similar": [], "matching_unavailable": str(error)}
    return {
        "recommendations": recommendations,
        "similar": similar,
        "matching_unavailable": None,
        "open_matches": review.sme_matches_by_partner(current_user),
        "shortlisted": shortlists.saved_ids(current_user),
    }


@bp.get("/<id:profile_id>")
def detail(profile_id: int) -> str:
    profile = _profile_or_404(profile_id)
    if profile.is_deleted:
        return render_template(
            "profiles/deleted.html",
            profile=profile,
            purge_on=services.restore_deadline(profile),
        )
    can_edit = services.can_edit_profile(current_user, profile)
    owned = current_user.is_authenticated and profile.owner_id == current_user.id
    suggestions = partner_suggestions(profile)
    # Read once: the recommendations need it too, when the index gave any.
    suggestions.setdefault("shortlisted", shortlists.saved_ids(current_user))
    return render_template(
        "profiles/detail.html",
        open_match=review.sme_matches_by_partner(current_user).get(profile.id),
        profile=profile,
        can_edit=can_edit,
        events=events_for(profile) if owned else [],
        missing=services.profile_missing(profile) if can_edit else [],
        show_contact=services.can_see_contact(current_user, profile),
        **suggestions,
    )


@bp.get("/mine")
@login_required
def mine() -> Response:
    if current_user.profile is not None:
        return redirect(url_for("profiles.detail", profile_id=current_user.profile.id))
    if current_user.role in (Role.SME, Role.EXPERT):
        return redirect(url_for("profiles.new"))
    return redirect(url_for("profiles.browse"))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.SME, Role.EXPERT)
def new() -> str | Response:
    if current_user.profile is not None:
        flash(_("You already have a profile; here you can edit it."), "info")
        return redirect(url_for("profiles.edit", profile_id=current_user.profile.id))
    kind = services.profile_kind_for(current_user)
    form = ProfileForm(kind=kind)
    if request.method == "GET":
        # Reachable from the start: accepting an introduction shares this address.
        form.contact_email.data = current_user.email
    if form.validate_on_submit():
        try:
            profile = services.create_profile(kind, form.to_input(), owner=current_user)
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(
                _("Your profile is saved. Add evidence: products, projects, publications."),
                "success",
            )
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return render_template("profiles/edit.html", form=form, profile=None)


@bp.route("/<id:profile_id>/edit", methods=["GET", "POST"])
@login_required
def edit(profile_id: int) -> str | Response:
    profile = _editable_profile_or_403(profile_id)
    form = ProfileForm(kind=profile.kind)
    if request.method == "GET":
        form.fill_from(services.profile_input_for(profile))
    if form.validate_on_submit():
        try:
            services.update_profile(profile, form.to_input())
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(_("Profile saved."), "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return render_template("profiles/edit.html", form=form, profile=profile)


@bp.route("/<id:profile_id>/delete", methods=["GET", "POST"])
@login_required
def delete(profile_id: int) -> str | Response:
    profile = _editable_profile_or_403(profile_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template(
            "profiles/confirm_delete.html",
            form=form,
            profile=profile,
            restore_days=services.RESTORE_DAYS,
        )
    services.delete_profile(profile)
    db.session.commit()
    flash(
        _(
            "The profile “%(name)s” has been deleted. It can be restored for %(days)d days.",
            name=profile.name,
            days=services.RESTORE_DAYS,
        ),
        "success",
    )
    return redirect(url_for("profiles.detail", profile_id=profile.id))


@bp.post("/<id:profile_id>/restore")
@login_required
def restore(profile_id: int) -> Response:
    profile = _profile_or_404(profile_id)
    if not services.can_edit_profile(current_user, profile):
        abort(403)
    form = ConfirmForm()
    if form.validate_on_submit() and profile.is_deleted:
        services.restore_profile(profile)
        db.session.commit()
        flash(_("The profile “%(name)s” is restored.", name=profile.name), "success")
    return redirect(url_for("profiles.detail", profile_id=profile.id))


@bp.get("/deleted")
@staff_required
def deleted() -> str:
    profiles = services.deleted_profiles(
        page_number(request.args), current_app.config["PROFILES_PER_PAGE"]
    )
    return render_template(
        "profiles/deleted_list.html",
        profiles=profiles,
        form=ConfirmForm(),
        restore_deadline=services.restore_deadline,
    )


@bp.route("/<id:profile_id>/evidence/new", methods=["GET", "POST"])
@login_required
def add_evidence(profile_id: int) -> str | Response:
    profile = _editable_profile_or_403(profile_id)
    form = EvidenceForm()
    if form.validate_on_submit():
        try:
            services.add_evidence(profile, form.to_input())
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(_("Evidence added."), "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return render_template("profiles/evidence_form.html", form=form, profile=profile, item=None)


@bp.route("/<id:profile_id>/evidence/<id:item_id>/edit", methods=["GET", "POST"])
@login_required
def edit_evidence(profile_id: int, item_id: int) -> str | Response:
    profile = _editable_profile_or_403(profile_id)
    item = _evidence_or_404(profile, item_id)
    form = EvidenceForm(obj=item if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            services.update_evidence(item, form.to_input())
        except ValidationError as error:
            db.session.rollback()
            show_validation_error(form, error)
        else:
            db.session.commit()
            flash(_("Evidence saved."), "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return render_template("profiles/evidence_form.html", form=form, profile=profile, item=item)


@bp.route("/<id:profile_id>/evidence/<id:item_id>/delete", methods=["GET", "POST"])
@login_required
def remove_evidence(profile_id: int, item_id: int) -> str | Response:
    profile = _editable_profile_or_403(profile_id)
    item = _evidence_or_404(profile, item_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template(
            "profiles/confirm_remove_evidence.html", form=form, profile=profile, item=item
        )
    services.remove_evidence(item)
    db.session.commit()
    flash(_("Evidence removed."), "success")
    return redirect(url_for("profiles.detail", profile_id=profile.id))
