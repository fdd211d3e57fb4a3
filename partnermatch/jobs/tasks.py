"""The jobs PartnerMatch runs in the background."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from partnermatch import reference
from partnermatch.events import scheduling
from partnermatch.events.models import Event
from partnermatch.extensions import db
from partnermatch.jobs import scaleout
from partnermatch.jobs.models import BackgroundJob, JobState
from partnermatch.jobs.runner import Progress, job, submit
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.services import ProfileFilters
from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
from partnermatch.review.learning import current_weights


@job("cohort_suggest")
def cohort_suggest(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Suggest partners to a cohort of SMEs (parameters as `matches suggest` takes them)."""
    settings = current_app.config
    filters = ProfileFilters(
        economies=tuple(reference.normalise_economy(code) for code in params.get("economies", [])),
        sectors=tuple(reference.check_sectors(params.get("sectors", []))),
    )
    smes = cohort_smes(filters, params.get("sme_ids", []))
    if not smes:
        return {"summary": "No SME profile is in this cohort.", "created": 0}
    done = 0

    def on_sme(_sme: object) -> None:
        nonlocal done
        done += 1
        # Scoring the candidates is the long part; the assignment takes the last tenth.
        progress(0.9 * done / len(smes), f"Scored candidates for {done} of {len(smes)} SMEs.")

    report = suggest_for_cohort(
        get_engine(),
        smes,
        k=int(params.get("k", 3)),
        cross_share=float(params.get("share", settings["COHORT_CROSS_ECONOMY_SHARE"])),
        capacity=int(params.get("capacity", settings["INTRODUCTION_CAPACITY"])),
        weights=current_weights(settings),
        min_strength=settings["RECOMMEND_MIN_STRENGTH"],
        on_sme=on_sme,
    )
    db.session.commit()
    solved = report.assignment
    return {
        "summary": f"{report.created} suggestions for {report.smes} SMEs are waiting for review.",
        "created": report.created,
        "smes": report.smes,
        "total_score": round(solved.total_score, 4),
        "unconstrained_total": round(solved.unconstrained_total, 4),
        "greedy_total": round(report.greedy.total_score, 4),
        "solver": solved.status.value,
        "seconds": round(solved.wall_time, 2),
    }


@job("index_rebuild")
def index_rebuild(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Rebuild the search index with progress."""
    engine = get_engine()
    total = max(engine.profile_count(), 1)
    done = 0
    # With Redis and a shared cache the workers encode first: the first 90% of the bar.
    assembling = (0.0, 1.0)

    def on_chunk(chunks_done: int, chunks: int) -> None:
        nonlocal assembling
        assembling = (0.9, 0.1)
        progress(
            0.9 * chunks_done / chunks,
            f"The workers encoded {chunks_done} of {chunks} chunks of passages.",
        )

    def on_progress(count: int) -> None:
        nonlocal done
        done += count
        start, share = assembling
        progress(start + share * done / total, f"Indexed {done} of {total} profiles.")

    manifest = scaleout.rebuild(engine, on_progress=on_progress, on_chunk=on_chunk)
    return {
        "summary": f"Index version {manifest.version}: {manifest.profiles} profiles.",
        "version": manifest.version,
    }


@job("index_catch_up")
def index_catch_up(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Encode the passages of changed profiles that searches left waiting (see
    MatchingEngine.encode_pending); the next search then applies them at once."""
    engine = get_engine()
    total = max(engine.catching_up, 1)
    done = 0

    def on_progress(count: int) -> None:
        nonlocal done
        done += count
        progress(min(done / total, 1.0), f"Encoded {done} of {total} changed profiles.")

    encoded = engine.encode_pending(on_progress=on_progress)
    return {
        "summary": f"Encoded the new passages of {encoded} changed profiles.",
        "profiles": encoded,
    }


def catch_up_in_background() -> int:
    """Start a catch-up job when searches have left changed profiles waiting and none is
    queued or running; return how many profiles wait."""
    waiting = get_engine().catching_up
    if waiting:
        busy = db.session.scalar(
            select(BackgroundJob.id).where(
                BackgroundJob.kind == "index_catch_up",
                BackgroundJob.state.in_((JobState.QUEUED, JobState.RUNNING)),
            )
        )
        if busy is None:
            submit("index_catch_up", {})
    return waiting


@job("event_schedule")
def event_schedule(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Schedule an event's meetings (as `events schedule` does)."""
    event = db.session.get(Event, int(params["event_id"]))
    if event is None:
        return {"summary": "The event no longer exists.", "proposed": 0}
    progress(0.05, "Reading the requests and who attends which session.")
    report = scheduling.schedule_event(
        event,
        time_limit=float(params.get("time_limit", scheduling.DEFAULT_TIME_LIMIT)),
        progress=lambda line: progress(0.5, line),
    )
    db.session.commit()
    return {
        "summary": (
            f"{report.proposed} meetings proposed, {report.kept} published ones kept, "
            f"{len(report.unplaced)} of {report.wanted} wanted not placed."
        ),
        "event_id": event.id,
        "proposed": report.proposed,
        "kept": report.kept,
        "unplaced": len(report.unplaced),
        "weight": round(report.weight, 2),
        "greedy_weight": round(report.greedy_weight, 2),
        "upper_bound": round(report.upper_bound, 2),
        "solver": report.status,
        "seconds": round(report.seconds, 2),
    }
