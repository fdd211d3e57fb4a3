"""The search page and the index and matches commands, over the indexed demo programme."""

from __future__ import annotations

import html
import json
import re
import time

from sqlalchemy import select

from partnermatch.extensions import db
from partnermatch.profiles.models import Profile
from tests.factories import make_profile


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


GOOD_MATCHES = re.compile(r"\d+ good match(es)?, best first")


def test_the_search_page_explains_how_to_search_before_a_query(demo):
    page = page_text(demo.test_client().get("/search/"))

    assert "Describe what you need in plain language" in page
    assert "profile-card" not in page


def test_search_results_show_score_quote_and_reasons(demo):
    response = demo.test_client().get(
        "/search/",
        query_string={
            "q": "who can check that our lithium packs are safe to ship by air",
            "sector": "green-vehicles",
        },
    )

    page = page_text(response)
    assert response.status_code == 200
    assert GOOD_MATCHES.search(page)
    first_card = page.split('class="profile-card result"')[1]
    assert "<meter" in first_card
    assert "Strong match" in first_card or "Good match" in first_card
    assert "UN38.3" in first_card  # the quoted evidence of the Korean battery test lab
    assert "Sector: Green vehicles" in first_card
    assert "Why this match" in first_card


def test_a_member_finds_their_own_profile_marked_as_theirs(demo):
    own = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    query = {"q": own.summary, "weaker": "y"}
    as_visitor = page_text(demo.test_client().get("/search/", query_string=query))
    member = demo.test_client()
    member.post("/login", data={"email": own.owner.email, "password": demo.config["DEMO_PASSWORD"]})
    found = page_text(member.get("/search/", query_string=query))

    assert f'href="/profiles/{own.id}"' in as_visitor
    assert "Your profile" not in as_visitor
    own_card = found.split('class="profile-card result"')[1]
    assert f'href="/profiles/{own.id}"' in own_card  # its own summary: the best match
    assert '<span class="role role-own">Your profile</span>' in own_card
    assert "Ask for an introduction" not in own_card


def test_search_results_are_paginated(demo):
    client = demo.test_client()
    query = {"q": "metal", "kind": "expert", "weaker": "y"}

    first = page_text(client.get("/search/", query_string=query))
    second = page_text(client.get("/search/", query_string={**query, "page": 2}))

    assert "page 1 of" in first and 'rel="next"' in first
    assert "page 2 of" in second and 'rel="prev"' in second
    links = [re.findall(r'<h3><a href="(/profiles/\d+)"', page) for page in (first, second)]
    assert len(links[0]) == 10 and len(links[1]) == 10
    assert not set(links[0]) & set(links[1])


def test_an_empty_economy_suggests_looking_elsewhere(demo):
    page = page_text(
        demo.test_client().get(
            "/search/", query_string={"q": "copper", "economy": "PG", "sector": "metal"}
        )
    )

    assert "No profile passes these filters" in page
    assert "No profile in Papua New Guinea passes these filters" in page
    assert "outside it do" in page
    assert "Search all economies" in page


def test_bad_search_parameters_do_not_break_the_page(demo):
    response = demo.test_client().get(
        "/search/", query_string={"q": "casting", "economy": "ZZ", "page": "-1", "kind": "robot"}
    )

    assert response.status_code == 200
    assert GOOD_MATCHES.search(page_text(response))


def test_without_an_index_the_page_says_so(client, db):
    make_profile()

    page = page_text(client.get("/search/", query_string={"q": "casting"}))

    assert "Search is unavailable right now" in page


def test_staff_are_told_how_to_build_the_index(client, db, login_as):
    from partnermatch.auth.models import Role
    from tests.factories import make_user

    login_as(make_user(Role.COORDINATOR))

    page = page_text(client.get("/search/", query_string={"q": "casting"}))

    assert "flask --app wsgi index rebuild" in page


def test_index_rebuild_and_status_commands(runner):
    make_profile(name="Andes Copper Foundry")

    missing = runner.invoke(args=["index", "status"])
    if_needed = runner.invoke(args=["index", "rebuild", "--if-needed"])
    again = runner.invoke(args=["index", "rebuild", "--if-needed"])
    fresh = runner.invoke(args=["index", "status"])

    assert missing.exit_code == 1 and "has not been built yet" in missing.output
    assert if_needed.exit_code == 0 and "Index version 1: 1 profiles" in if_needed.output
    # It says what it does, not to run the command that is running.
    assert "There is no search index yet (or it cannot be read): building it now." in (
        if_needed.output
    )
    assert "flask --app wsgi index rebuild" not in if_needed.output
    assert "Indexing profiles: 1 of 1 (done)" in if_needed.output
    assert "The search index is in place (version 1)" in again.output
    assert fresh.exit_code == 0
    assert "Indexed profiles:   1" in fresh.output and "Stale:              no" in fresh.output


def test_matches_search_prints_json(demo):
    result = demo.test_cli_runner().invoke(
        args=["matches", "search", "digital printing on batik", "--economy", "Indonesia", "--json"]
    )

    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["total"] >= 1
    assert payload["results"][0]["external_id"] == "demo-sme-id-digital-batik"
    assert payload["results"][0]["evidence"][0]["snippet"]


def test_matches_search_names_a_bad_filter(demo):
    result = demo.test_cli_runner().invoke(args=["matches", "search", "x", "--economy", "Atlantis"])

    assert result.exit_code == 2
    assert "economy: Unknown economy 'Atlantis'" in result.output


def test_matches_search_without_an_index_explains_what_to_do(runner):
    make_profile()

    result = runner.invoke(args=["matches", "search", "casting"])

    assert result.exit_code == 1
    assert "run `flask --app wsgi index rebuild`" in result.output
    db.session.remove()


def test_weaker_matches_are_one_click_away(demo):
    client = demo.test_client()
    query = {"q": "aluminium die casting"}

    default = page_text(client.get("/search/", query_string=query))
    everything = page_text(client.get("/search/", query_string={**query, "weaker": "y"}))

    shown = re.search(r"Show (\d+) weaker match", default)
    assert shown and "Weak match" not in default
    assert "Weak match" in everything and "best match first" in everything


def test_a_search_waits_for_no_long_encoding_and_a_job_catches_up(client, db, monkeypatch):
    from partnermatch.jobs.models import BackgroundJob
    from partnermatch.matching import engine as engine_module
    from partnermatch.matching.extension import get_engine
    from partnermatch.profiles import services as profiles
    from partnermatch.profiles.services import EvidenceInput

    lab = make_profile("expert", name="Mekong Water Lab", offers="Paddy irrigation trials.")
    get_engine().rebuild()
    monkeypatch.setattr(engine_module, "SYNC_ENCODE_PASSAGES", 2)
    for number in range(6):
        profiles.add_evidence(
            lab, EvidenceInput("project", f"Drip trial {number}", f"Field {number} in An Giang.")
        )
    db.session.commit()

    page = page_text(client.get("/search/", query_string={"q": "paddy irrigation"}))

    assert "The search index is catching up with 1 recent profile change" in page
    [job_id] = db.session.scalars(
        select(BackgroundJob.id).where(BackgroundJob.kind == "index_catch_up")
    ).all()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()  # a fresh read, and no transaction left open for the job
        job = db.session.get(BackgroundJob, job_id)
        if job.finished:
            break
        time.sleep(0.2)
    assert job.state.value == "succeeded", job.message
    client.get("/search/", query_string={"q": "paddy irrigation"})
    assert get_engine().catching_up == 0


def test_the_filter_panel_is_closed_and_not_active_for_a_member_who_set_no_filter(demo):
    own = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    member = demo.test_client()
    member.post("/login", data={"email": own.owner.email, "password": demo.config["DEMO_PASSWORD"]})

    plain = page_text(member.get("/search/", query_string={"q": "battery testing"}))
    filtered = page_text(
        member.get("/search/", query_string={"q": "battery testing", "sector": "energy"})
    )

    assert '<details class="filters">' in plain and "(active)" not in plain
    assert '<details class="filters" open>' in filtered and "(active)" in filtered
