"""One small job interface, two back-ends.

- "thread" (the embedded default): the job runs in a thread of the web process that
  submitted it. Progress is written to the database, so any web worker can show it; a job
  dies with its process, and the job records which process that is, so once the process has
  gone (a restart, a crash) the job is marked interrupted rather than left running.
- "rq" (when PARTNERMATCH_REDIS_URL is set): the job is queued in Redis and run by
  `rq worker` processes (`flask --app wsgi jobs worker`), on this machine or others, which
  build the application from the same PARTNERMATCH_* settings.

A job is a function registered in JOBS: it takes its parameters and a progress callback and
returns a JSON-able result. It does its work in the session; reporting progress commits the
session, so a job commits its work in steps and what it committed stays if it fails later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import select, update

from partnermatch.extensions import db
from partnermatch.jobs.models import BackgroundJob, JobState
from partnermatch.timeutil import utcnow

logger = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
JobFunction = Callable[[dict[str, Any], Progress], dict[str, Any]]
JOBS: dict[str, JobFunction] = {}
INTERRUPTED_MESSAGE = (
    "Interrupted: the process running it stopped (a restart or a crash). What it committed "
    "stays; start it again to finish."
)


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
    backend = backend_name(app)
    record = BackgroundJob(
        kind=kind,
        params=params,
        created_by_id=created_by_id,
        backend=backend,
        runner=this_process() if backend == "thread" else None,
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


def _process_start(pid: int) -> str | None:
    """Return when a process started (clock ticks since boot, from /proc), or None where
    /proc does not tell: with the pid, it tells a process from a later one given the same pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces; field 22 is the start time.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> str:
    """Return what names this process among all: "host:pid:start"."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid) or ''}"


def process_alive(runner: str) -> bool | None:
    """Say whether the process a job recorded still runs: None when it ran on another host,
    which this process cannot see."""
    host, pid_text, start = runner.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    if start and os.path.exists("/proc"):
        return _process_start(pid) == start
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid is another user's now
        return False
    return True


def mark_interrupted_jobs() -> int:
    """Mark as failed the unfinished thread jobs whose process has stopped; return how many.

    Called where jobs are shown, so a restart never leaves a job "running" for good.
    """
    unfinished = db.session.scalars(
        select(BackgroundJob).where(
            BackgroundJob.backend == "thread",
            BackgroundJob.state.in_([JobState.QUEUED, JobState.RUNNING]),
            BackgroundJob.runner.is_not(None),
        )
    ).all()
    stopped = [record for record in unfinished if process_alive(record.runner) is False]
    for record in stopped:
        record.state = JobState.FAILED
        record.finished_at = utcnow()
        record.message = INTERRUPTED_MESSAGE
        logger.warning("job %s (%s) was interrupted: its process stopped", record.id, record.kind)
    if stopped:
        db.session.commit()
    return len(stopped)


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
