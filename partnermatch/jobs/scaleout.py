"""A rebuild that encodes on RQ workers: the passages still missing from the shared
embedding cache are split into chunks queued on Redis; `jobs worker` processes, on any
machine, encode a chunk each into the cache; the rebuild waits for every chunk and then
assembles the snapshot from the cache, encoding nothing itself.

Only with PARTNERMATCH_REDIS_URL and a cache in the programme's database (the default on
PostgreSQL): a worker on another machine cannot write to this machine's SQLite file.
Without them a rebuild encodes in its own process, as before.

A chunk is idempotent: the cache keeps the first vector of a text hash (an upsert that does
nothing on conflict), so a chunk encoded twice stores nothing twice. A chunk whose job
failed, or which started ENCODE_CHUNK_TIMEOUT seconds ago and is still not in the cache (its
worker died: RQ only notices an abandoned job minutes later), is queued again, up to
CHUNK_ATTEMPTS times; RQ's own Retry also re-queues a job that raised.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context

from partnermatch.jobs.runner import job_queue
from partnermatch.matching.engine import MatchingEngine, ProgressCallback
from partnermatch.matching.extension import get_engine
from partnermatch.matching.snapshots import Manifest

CHUNK_JOB = "partnermatch.jobs.scaleout.encode_chunk"
# Times a chunk is queued before the rebuild gives up on it.
CHUNK_ATTEMPTS = 4
# RQ's own retries of a chunk job that raised.
CHUNK_RETRIES = 2
POLL_SECONDS = 0.5


class ChunksFailed(RuntimeError):
    """Some chunks could not be encoded by the workers; the previous index keeps serving."""


@dataclass
class Chunk:
    """Texts one model encodes in one job."""

    model: str
    texts: list[str]
    job_id: str | None = None
    attempts: int = 0
    queued_at: float = field(default_factory=time.monotonic)


def scales_out(app: Flask, engine: MatchingEngine) -> bool:
    """True when a rebuild encodes on RQ workers: Redis is configured and every model
    caches in the database."""
    return bool(app.config.get("REDIS_URL")) and engine.encoder.shared_cache


def plan_chunks(engine: MatchingEngine, size: int) -> list[Chunk]:
    """Split the texts the cache still lacks into chunks of at most `size` texts."""
    return [
        Chunk(model, texts[start : start + size])
        for model, texts in engine.uncached_texts().items()
        for start in range(0, len(texts), size)
    ]


def encode_chunk(model: str, texts: list[str]) -> dict[str, Any]:
    """A worker's job: encode a chunk's texts into the shared cache (those cached already,
    by another worker or an earlier attempt, are skipped)."""
    if has_app_context():
        encoded = get_engine().encoder.encode_texts(model, texts)
    else:
        from partnermatch import create_app

        with create_app().app_context():
            encoded = get_engine().encoder.encode_texts(model, texts)
    return {"encoded": encoded, "texts": len(texts), "pid": os.getpid()}


def _enqueue(queue, chunk: Chunk, timeout: int) -> None:
    from rq import Retry

    job = queue.enqueue_call(
        CHUNK_JOB,
        args=(chunk.model, chunk.texts),
        timeout=timeout,
        retry=Retry(max=CHUNK_RETRIES),
        result_ttl=3600,
        failure_ttl=3600,
    )
    chunk.job_id = job.id
    chunk.attempts += 1
    chunk.queued_at = time.monotonic()


def _lost(queue, chunk: Chunk, timeout: int) -> bool:
    """True when the chunk's job will not fill the cache: it failed (retries spent), was
    stopped or expired, or started `timeout` seconds ago (its worker died)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(chunk.job_id, connection=queue.connection)
    except NoSuchJobError:
        return True
    status = job.get_status()
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return True
    if status == JobStatus.STARTED and job.started_at is not None:
        started = job.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return datetime.now(UTC) - started > timedelta(seconds=timeout)
    return False


def run_chunks(
    engine: MatchingEngine,
    chunks: list[Chunk],
    queue,
    timeout: int,
    on_done: ProgressCallback | None = None,
) -> None:
    """Queue the chunks and wait until every one is in the cache, queueing again those
    lost (see the module); raise ChunksFailed when a chunk is lost CHUNK_ATTEMPTS times or
    no worker is there for `timeout` seconds."""
    from rq import Worker

    for chunk in chunks:
        _enqueue(queue, chunk, timeout)
    pending = list(chunks)
    seen_worker = time.monotonic()
    while pending:
        time.sleep(POLL_SECONDS)
        if Worker.count(queue=queue):
            seen_worker = time.monotonic()
        elif time.monotonic() - seen_worker > timeout:
            raise ChunksFailed(
                f"No RQ worker took the {len(pending)} chunks left in {timeout} s: start "
                "`flask --app wsgi jobs worker` (the chunks stay queued for it)."
            )
        still: list[Chunk] = []
        for chunk in pending:
            if not engine.encoder.missing(chunk.model, chunk.texts):
                if on_done:
                    on_done(1)
                continue
            if _lost(queue, chunk, timeout):
                if chunk.attempts >= CHUNK_ATTEMPTS:
                    raise ChunksFailed(
                        f"A chunk of {len(chunk.texts)} {chunk.model} passages was lost "
                        f"{chunk.attempts} times (job {chunk.job_id}): see the workers' logs."
                    )
                _enqueue(queue, chunk, timeout)
            still.append(chunk)
        pending = still


def chunks_to_encode(app: Flask, engine: MatchingEngine) -> list[Chunk]:
    """Return the chunks the workers must encode before a rebuild (none when the rebuild
    does not scale out, see scales_out)."""
    return plan_chunks(engine, app.config["ENCODE_CHUNK"]) if scales_out(app, engine) else []


def encode_on_workers(
    app: Flask,
    engine: MatchingEngine,
    chunks: list[Chunk],
    on_done: ProgressCallback | None = None,
) -> None:
    """Have the RQ workers encode these chunks into the shared cache (see run_chunks)."""
    if not chunks:
        return
    queue = job_queue(app)
    from rq import Worker, get_current_job

    # A rebuild run as a job holds its worker while it waits: another must take the chunks.
    if get_current_job() is not None and Worker.count(queue=queue) < 2:
        raise ChunksFailed(
            "This rebuild runs on the only RQ worker, which cannot encode its chunks while it "
            "waits for them: start another `flask --app wsgi jobs worker`."
        )
    run_chunks(engine, chunks, queue, app.config["ENCODE_CHUNK_TIMEOUT"], on_done)


def rebuild(
    engine: MatchingEngine,
    on_progress: ProgressCallback | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Rebuild the index; with Redis and a shared cache, have the workers encode first,
    telling `on_chunk(done, total)` of each chunk done."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    chunks = chunks_to_encode(app, engine)
    done = 0

    def chunk_done(count: int) -> None:
        nonlocal done
        done += count
        if on_chunk:
            on_chunk(done, len(chunks))

    encode_on_workers(app, engine, chunks, chunk_done)
    return engine.rebuild(on_progress=on_progress)
