"""One small job interface, two back-ends.

- "thread" (the embedded default): the job runs in a thread of the web process that
  submitted it. Progress is written to the database, so any web worker can show it; a job
  dies with its process.
- "rq" (when PARTNERMATCH_REDIS_URL is set): the job is queued in Redis and run by
  `rq worker` processes (`flask --app wsgi jobs worker`), on this machine or others, which
  build the application from the same PARTNERMATCH_* settings.

A job is a function registered in JOBS: it takes its parameters and a progress callback and
returns a JSON-able result. It does its work in the session; reporting progress commits the
session, so a job commits its work in steps and what it committed stays if it fails later.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import update

from partnermatch.extensions import db
from partnermatch.jobs.models import BackgroundJob, JobState
from partnermatch.timeutil import utcnow

logger = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
JobFunction = Callable[[dict[str, Any], Progress], dict[str, Any]]
JOBS: dict[str, JobFunction] = {}


def job(kind: str) -> Callable[[JobFunction], JobFunction]:
    """Register a function as the job of this kind."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[kind] = function
        return function

    return register


def backend_name(app: Flask) -> str:
    """Return "rq" when a Redis URL is configured, else "thread"."""
    return "rq" if app.config.get("REDIS_URL") else "thread"


def submit(kind: str, params: dict[str, Any], created_by_id: int | None = None) -> BackgroundJob:
    """Queue a job and start it on the configured back-end; commits the job row."""
    if kind not in JOBS:
        raise KeyError(f"no job named {kind!r}")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    record = BackgroundJob(
        kind=kind, params=params, created_by_id=created_by_id, backend=backend_name(app)
    )
    db.session.add(record)
    db.session.commit()
    if record.backend == "rq":
        job_queue(app).enqueue_call(
            "partnermatch.jobs.runner.run_queued_job", args=(record.id,), timeout=3600
        )
    else:
        threading.Thread(
            target=_run_in_thread, args=(app, record.id), daemon=True, name=f"job-{record.id}"
        ).start()
    return record


def job_queue(app: Flask):
    """Return the Redis queue jobs go to."""
    from redis import Redis
    from rq import Queue

    return Queue("partnermatch", connection=Redis.from_url(app.config["REDIS_URL"]))


def _run_in_thread(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def run_queued_job(job_id: int) -> None:
    """Entry point for an rq worker: run the job inside an application."""
    if has_app_context():
        run_job(job_id)
        return
    from partnermatch import create_app

    with create_app().app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def _update(job_id: int, **values: Any) -> None:
    # Through the job's own session, committed: a second connection writing progress would
    # leave the session's read snapshot stale, and SQLite then refuses the job's own writes.
    db.session.commit()  # end what the job read, so this write starts a transaction of its own
    db.session.execute(update(BackgroundJob).where(BackgroundJob.id == job_id).values(**values))
    db.session.commit()


def run_job(job_id: int) -> None:
    """Run a queued job to the end, recording its progress, result or error."""
    record = db.session.get(BackgroundJob, job_id)
    if record is None or record.state is not JobState.QUEUED:
        return
    kind, params = record.kind, dict(record.params)
    db.session.rollback()  # end the read before the job's own transactions start
    _update(job_id, state=JobState.RUNNING, started_at=utcnow(), message="Started.")

    def progress(share: float, message: str = "") -> None:
        _update(job_id, progress=max(0.0, min(share, 1.0)), message=message)

    try:
        result = JOBS[kind](params, progress)
    except Exception as error:  # a job's failure is reported on its page, not lost
        db.session.rollback()
        logger.error("job %s (%s) failed:\n%s", job_id, kind, traceback.format_exc())
        _update(job_id, state=JobState.FAILED, finished_at=utcnow(), message=f"Failed: {error}")
        return
    _update(
        job_id,
        state=JobState.SUCCEEDED,
        progress=1.0,
        finished_at=utcnow(),
        result=result,
        message=result.get("summary", "Done."),
    )
