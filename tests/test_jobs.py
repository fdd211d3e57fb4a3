"""Background jobs on both back-ends: threads of the web process, and rq workers on Redis."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.jobs import runner
from partnermatch.jobs.models import BackgroundJob, JobState
from partnermatch.review.models import Match
from tests.factories import make_profile, make_user


@pytest.fixture
def cohort(app, db):
    make_profile(
        name="Hanoi E-Scooters",
        economy="VN",
        sectors=("green-vehicles",),
        needs="Battery pack testing and certification.",
    )
    make_profile(
        name="Bangkok E-Bikes",
        economy="TH",
        sectors=("green-vehicles",),
        needs="Lightweight aluminium frames.",
    )
    make_profile(
        "expert", name="Seoul Battery Lab", economy="KR", offers="Battery safety testing, UN38.3."
    )
    make_profile(
        "expert",
        name="Nagoya Casting Lab",
        economy="JP",
        offers="Lightweight cast aluminium design.",
    )
    from partnermatch.matching.extension import get_engine

    get_engine().rebuild()
    return app


def wait_until_finished(job_id: int, seconds: float = 60) -> BackgroundJob:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.rollback()  # a fresh read each time, and no transaction left open
        record = db.session.get(BackgroundJob, job_id)
        if record.finished:
            return record
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {seconds} s")


def test_a_cohort_job_runs_in_a_thread_and_reports_progress(cohort):
    record = runner.submit("cohort_suggest", {"sectors": ["green-vehicles"], "k": 1, "share": 1.0})
    assert record.backend == "thread"

    finished = wait_until_finished(record.id)

    assert finished.state is JobState.SUCCEEDED, finished.message
    assert finished.progress == 1.0
    assert finished.result["created"] == 2 and "2 suggestions for 2 SMEs" in finished.message
    pairs = {(m.sme.name, m.partner.name) for m in db.session.scalars(select(Match))}
    assert pairs == {
        ("Hanoi E-Scooters", "Seoul Battery Lab"),
        ("Bangkok E-Bikes", "Nagoya Casting Lab"),
    }


def test_a_failing_job_is_reported_not_lost(app, db):
    @runner.job("explode")
    def explode(params, progress):
        progress(0.5, "Half way.")
        raise RuntimeError("the disk is full")

    record = runner.submit("explode", {})
    finished = wait_until_finished(record.id)

    assert finished.state is JobState.FAILED
    assert finished.message == "Failed: the disk is full" and finished.progress == 0.5
    runner.JOBS.pop("explode")


def test_with_redis_jobs_wait_for_an_rq_worker(cohort, redis_url):
    cohort.config["REDIS_URL"] = redis_url
    record = runner.submit("cohort_suggest", {"sectors": ["green-vehicles"], "k": 1, "share": 1.0})
    assert record.backend == "rq"
    time.sleep(0.3)
    db.session.expire_all()
    assert db.session.get(BackgroundJob, record.id).state is JobState.QUEUED  # nothing runs it yet

    result = cohort.test_cli_runner().invoke(args=["jobs", "worker", "--burst"])

    assert result.exit_code == 0, result.output
    finished = wait_until_finished(record.id, seconds=5)
    assert finished.state is JobState.SUCCEEDED and finished.result["created"] == 2


def test_the_worker_command_needs_redis(runner):
    result = runner.invoke(args=["jobs", "worker"])

    assert result.exit_code == 1 and "PARTNERMATCH_REDIS_URL is not set" in result.output


def test_a_coordinator_starts_a_cohort_from_the_browser_and_follows_it(cohort, login_as):
    client = login_as(make_user(Role.COORDINATOR))

    response = client.post(
        "/jobs/", data={"sectors": ["green-vehicles"], "k": "1", "share": "1", "capacity": "3"}
    )

    assert response.status_code == 302
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    finished = wait_until_finished(job_id)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "100%" in page and "succeeded" in page and "Review the suggestions" in page
    assert finished.created_by_id is not None


def test_a_hand_picked_cohort_from_the_browser(cohort, login_as):
    from partnermatch.profiles.models import Profile

    hanoi = db.session.scalar(select(Profile.id).where(Profile.name == "Hanoi E-Scooters"))
    client = login_as(make_user(Role.COORDINATOR))

    refused = client.post(
        "/jobs/", data={"sme_ids": "twelve", "k": "1", "share": "1", "capacity": "3"}
    )
    response = client.post(
        "/jobs/", data={"sme_ids": f"{hanoi}", "k": "1", "share": "1", "capacity": "3"}
    )

    assert "Give profile numbers separated by commas" in refused.get_data(as_text=True)
    finished = wait_until_finished(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert finished.result["smes"] == 1
    assert {m.sme.name for m in db.session.scalars(select(Match))} == {"Hanoi E-Scooters"}


def test_a_running_job_page_refreshes_itself(app, db, login_as):
    record = BackgroundJob(
        kind="index_rebuild",
        state=JobState.RUNNING,
        progress=0.4,
        message="Indexed 40 of 100 profiles.",
    )
    db.session.add(record)
    db.session.commit()

    page = login_as(make_user(Role.COORDINATOR)).get(f"/jobs/{record.id}").get_data(as_text=True)

    assert '<meta http-equiv="refresh" content="2">' in page
    assert "40%" in page and "Indexed 40 of 100 profiles." in page


def test_the_cohort_forms_economies_lead_with_those_of_the_programme(app, db, login_as):
    make_profile(name="Hanoi E-Scooters", economy="VN")
    make_profile("expert", name="Seoul Battery Lab", economy="KR")

    page = login_as(make_user(Role.COORDINATOR)).get("/jobs/").get_data(as_text=True)

    select_ = page.split('name="economies"')[1].split("</select>")[0]
    ours = select_.split('<optgroup label="Economies in the programme">')[1].split("</optgroup>")[0]
    others = select_.split('<optgroup label="Other economies">')[1]
    assert select_.index("Economies in the programme") < select_.index("Other economies")
    assert 'value="VN"' in ours and 'value="KR"' in ours and 'value="FR"' not in ours
    assert 'value="FR"' in others and 'value="VN"' not in others


def test_only_staff_start_jobs(app, db, login_as):
    client = login_as(make_user(Role.SME))

    assert client.get("/jobs/").status_code == 403
    assert client.post("/jobs/rebuild").status_code == 403
    assert db.session.scalar(select(BackgroundJob)) is None


def stopped_process() -> str:
    """Return the runner name of a process of this host that has exited."""
    child = subprocess.Popen(["true"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:"


def running_job(runner_name: str) -> BackgroundJob:
    record = BackgroundJob(
        kind="index_rebuild",
        state=JobState.RUNNING,
        progress=0.4,
        message="Indexed 40 of 100 profiles.",
        runner=runner_name,
    )
    db.session.add(record)
    db.session.commit()
    return record


def test_a_thread_job_records_the_process_it_runs_in(cohort):
    record = runner.submit("cohort_suggest", {"sectors": ["green-vehicles"], "k": 1, "share": 1.0})

    assert record.runner == runner.this_process()
    assert runner.process_alive(record.runner) is True
    wait_until_finished(record.id)


def test_a_job_whose_process_stopped_is_shown_as_interrupted(app, db, login_as):
    record = running_job(stopped_process())

    page = login_as(make_user(Role.COORDINATOR)).get(f"/jobs/{record.id}").get_data(as_text=True)

    db.session.refresh(record)
    assert record.state is JobState.FAILED and record.finished_at is not None
    assert record.progress == 0.4  # what it had done stays visible
    assert "Interrupted: the process running it stopped" in page
    assert 'http-equiv="refresh"' not in page


def test_jobs_of_live_processes_and_of_other_hosts_keep_running(app, db, login_as):
    here = running_job(runner.this_process())
    elsewhere = running_job("another-host.example:12345:678")
    gone = running_job(stopped_process())

    page = login_as(make_user(Role.COORDINATOR)).get("/jobs/").get_data(as_text=True)

    for record in (here, elsewhere, gone):
        db.session.refresh(record)
    assert here.state is JobState.RUNNING
    assert elsewhere.state is JobState.RUNNING
    assert gone.state is JobState.FAILED
    assert page.count("<td>running</td>") == 2 and page.count("<td>failed</td>") == 1


def test_a_recycled_pid_is_not_taken_for_the_job_process(app, db):
    host, pid, start = runner.this_process().split(":")
    assert start, "this test needs /proc"
    record = running_job(f"{host}:{pid}:{int(start) - 1}")  # same pid, an earlier process

    assert runner.mark_interrupted_jobs() == 1

    db.session.refresh(record)
    assert record.state is JobState.FAILED


def test_a_finished_cohort_job_page_speaks_a_coordinators_words(app, db, login_as):
    record = BackgroundJob(
        kind="cohort_suggest",
        state=JobState.SUCCEEDED,
        progress=1.0,
        backend="thread",
        result={"created": 3, "total_score": 2.1, "unconstrained_total": 2.4, "greedy_total": 1.8},
    )
    queued = BackgroundJob(kind="index_rebuild", backend="rq")
    db.session.add_all([record, queued])
    db.session.commit()
    client = login_as(make_user(Role.COORDINATOR))

    page = client.get(f"/jobs/{record.id}").get_data(as_text=True)
    on_a_worker = client.get(f"/jobs/{queued.id}").get_data(as_text=True)

    assert "<h1>Suggest partners for a cohort</h1>" in page
    assert "Runs in the web server" in page and "Runs on a background worker" in on_a_worker
    assert "Best match for each SME, no limits" in page
    assert "Quick first-come assignment (baseline)" in page
    for jargon in ("Cohort suggest", "(job ", "run by", "top-k", "Greedy"):
        assert jargon not in page
