"""A background job and its progress, stored in the database so every web worker can show it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from partnermatch.extensions import db, enum_column
from partnermatch.reference import N_
from partnermatch.timeutil import utcnow


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# What a job of each kind is called on the pages (translated there).
JOB_TITLES = {
    "cohort_suggest": N_("Suggest partners for a cohort"),
    "index_rebuild": N_("Rebuild the search index"),
    "index_catch_up": N_("Index catch-up"),
    "event_schedule": N_("Meeting schedule"),
}


class BackgroundJob(db.Model):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(
        enum_column(JobState, "job_state"), default=JobState.QUEUED
    )
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    backend: Mapped[str] = mapped_column(String(20), default="thread")
    # The process a thread job runs in ("host:pid:start"), so a job whose process has gone is
    # reported as interrupted instead of running forever.
    runner: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def title(self) -> str:
        return JOB_TITLES.get(self.kind, self.kind.replace("_", " ").capitalize())

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)
