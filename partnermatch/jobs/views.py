"""Job pages: start a cohort suggestion or a rebuild, and follow a job's progress."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from partnermatch.auth.decorators import staff_required
from partnermatch.extensions import db
from partnermatch.jobs import runner
from partnermatch.jobs.forms import CohortForm, RebuildForm
from partnermatch.jobs.models import BackgroundJob

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.route("/", methods=["GET", "POST"])
@staff_required
def index() -> str | Response:
    form = CohortForm()
    if form.validate_on_submit():
        record = runner.submit("cohort_suggest", form.params(), current_user.id)
        flash(_("The cohort is being matched; this page follows its progress."), "info")
        return redirect(url_for("jobs.detail", job_id=record.id))
    runner.mark_interrupted_jobs()
    recent = db.session.scalars(select(BackgroundJob).order_by(BackgroundJob.id.desc()).limit(20))
    return render_template(
        "jobs/index.html", form=form, rebuild_form=RebuildForm(), jobs=list(recent)
    )


@bp.post("/rebuild")
@staff_required
def rebuild() -> Response:
    RebuildForm().validate_on_submit()
    record = runner.submit("index_rebuild", {}, current_user.id)
    return redirect(url_for("jobs.detail", job_id=record.id))


@bp.get("/<id:job_id>")
@staff_required
def detail(job_id: int) -> str:
    runner.mark_interrupted_jobs()
    return render_template("jobs/detail.html", job=db.get_or_404(BackgroundJob, job_id))
