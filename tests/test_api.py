"""JSON API v1: tokens, search, recommendations, profiles, reference, errors and limits."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import ApiToken, create_token, revoke
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.matching.search import search
from partnermatch.profiles.models import Profile
from partnermatch.profiles.services import ProfileFilters
from tests.factories import make_user


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def token(demo):
    user = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    ).owner
    _token, secret = create_token(user, "tests")
    db.session.commit()
    return secret


def test_search_answers_with_the_documented_shape(demo, token):
    response = demo.test_client().post(
        "/api/v1/search",
        json={"query": "who can check that our lithium packs are safe to ship by air", "limit": 3},
        headers=bearer(token),
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 98 and len(body["results"]) == 3
    first = body["results"][0]
    assert set(first) == {
        "id",
        "external_id",
        "name",
        "kind",
        "affiliation",
        "economy",
        "score",
        "strength",
        "role",
        "terms",
        "answered_ask",
        "reasons",
        "evidence",
    }
    assert first["external_id"] == "demo-expert-kr-battery-safety-testing"
    assert first["strength"] in ("strong", "good") and first["role"] == "provider"
    assert isinstance(first["score"], float) and first["evidence"][0]["snippet"]


def test_api_search_ranks_exactly_like_the_library(demo, token):
    query = "metal surface finishing for cultural products"
    filters = ProfileFilters(kind="sme", exclude_economies=("TW",))
    searcher = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )  # the token's owner: its offers tell competitors
    library = search(get_engine(), query, filters, limit=15, searcher=searcher)

    body = (
        demo.test_client()
        .post(
            "/api/v1/search",
            json={
                "query": query,
                "kind": "sme",
                "exclude_economies": ["Chinese Taipei"],
                "limit": 15,
            },
            headers=bearer(token),
        )
        .get_json()
    )

    assert [r["id"] for r in body["results"]] == [r.profile.id for r in library.results]
    assert [r["score"] for r in body["results"]] == pytest.approx(
        [r.score for r in library.results], abs=1e-4
    )
    assert body["total"] == library.total


def test_get_search_takes_repeated_filter_parameters(demo, token):
    response = demo.test_client().get(
        "/api/v1/search?q=batik&economies=ID&economies=TH&limit=5", headers=bearer(token)
    )

    assert response.status_code == 200
    assert {r["economy"] for r in response.get_json()["results"]} <= {"ID", "TH"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "x", "economies": ["Atlantis"]}, "economies"),
        ({"query": "x", "sectors": ["alchemy"]}, "sectors"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 1001}, "limit"),
        ({"query": "x", "kind": "robot"}, "kind"),
        ({"query": "x", "affiliations": ["guild"]}, "affiliations"),
        ({"query": "x", "colour": "blue"}, "colour"),
        ({"query": "x", "value_chain": "testing"}, "value_chain"),
    ],
)
def test_a_bad_field_gets_422_naming_it(demo, token, body, field):
    response = demo.test_client().post("/api/v1/search", json=body, headers=bearer(token))

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_field" and error["field"] == field and error["message"]


def test_malformed_json_gets_400(demo, token):
    response = demo.test_client().post(
        "/api/v1/search",
        data="{not json",
        headers={**bearer(token), "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer pm_not-a-real-token"}, {"Authorization": "Basic abc"}]
)
def test_requests_without_a_valid_token_get_401(demo, headers):
    response = demo.test_client().get("/api/v1/reference", headers=headers)

    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_a_revoked_token_stops_working_at_once(demo, token):
    client = demo.test_client()
    assert client.get("/api/v1/reference", headers=bearer(token)).status_code == 200

    revoke(db.session.scalar(select(ApiToken).where(ApiToken.prefix == token[:10])))
    db.session.commit()

    assert client.get("/api/v1/reference", headers=bearer(token)).status_code == 401


def test_a_browser_session_does_not_authenticate_the_api(demo):
    client = demo.test_client()
    client.post(
        "/login", data={"email": "admin@example.org", "password": demo.config["DEMO_PASSWORD"]}
    )

    assert client.get("/api/v1/reference").status_code == 401


def test_contact_emails_appear_only_where_the_page_shows_them(demo, token):
    client = demo.test_client()
    own = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    other = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-expert-jp-topology-optimisation")
    )

    mine = client.get(f"/api/v1/profiles/{own.id}", headers=bearer(token)).get_json()
    theirs = client.get(f"/api/v1/profiles/{other.id}", headers=bearer(token)).get_json()

    assert mine["contact_email"] == own.contact_email
    assert "contact_email" not in theirs and theirs["name"] == other.name


def test_the_openapi_document_describes_the_profiles_the_api_returns(demo, token):
    client = demo.test_client()
    own = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    document = client.get("/api/v1/openapi.json").get_json()

    def answer(path: str) -> dict:
        ok = document["paths"][path]["get"]["responses"]["200"]
        return ok["content"]["application/json"]["schema"]

    full = client.get(f"/api/v1/profiles/{own.id}", headers=bearer(token)).get_json()
    listed = client.get("/api/v1/profiles?per_page=1", headers=bearer(token)).get_json()
    evidence = client.get(f"/api/v1/profiles/{own.id}/evidence", headers=bearer(token)).get_json()

    assert set(answer("/profiles/{profile_id}")["properties"]) == set(full)
    summary = answer("/profiles")["properties"]["profiles"]["items"]["properties"]
    assert set(summary) == set(listed["profiles"][0])
    item = answer("/profiles/{profile_id}/evidence")["properties"]["evidence"]["items"]
    assert set(item["properties"]) == set(evidence["evidence"][0])


def test_recommendations_carry_the_factors(demo, token):
    own = db.session.scalar(
        select(Profile.id).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )

    body = (
        demo.test_client()
        .get(f"/api/v1/profiles/{own}/recommendations?limit=3", headers=bearer(token))
        .get_json()
    )

    assert body["results"][0]["external_id"] == "demo-expert-jp-topology-optimisation"
    assert any(reason.startswith("Two-sided:") for reason in body["results"][0]["reasons"])


def test_the_profile_list_pages_with_a_next_link(demo, token):
    client = demo.test_client()

    first = client.get(
        "/api/v1/profiles?per_page=40&sectors=metal", headers=bearer(token)
    ).get_json()

    assert first["total"] == 25 and len(first["profiles"]) == 25 and first["next"] is None
    many = client.get("/api/v1/profiles?per_page=50", headers=bearer(token)).get_json()
    rest = client.get(many["next"], headers=bearer(token)).get_json()
    assert (
        len(many["profiles"]) == 50
        and len(rest["profiles"]) == many["total"] - 50 == 48
        and rest["next"] is None
    )
    assert not {p["id"] for p in many["profiles"]} & {p["id"] for p in rest["profiles"]}


def test_reference_lists_the_vocabularies(demo, token):
    body = demo.test_client().get("/api/v1/reference", headers=bearer(token)).get_json()

    assert sum(e["apec"] for e in body["economies"]) == 21
    assert {"code": "TW", "name": "Chinese Taipei", "apec": True} in body["economies"]
    assert [s["code"] for s in body["sectors"]][:4] == [
        "metal",
        "green-vehicles",
        "ict-its",
        "cultural-creative",
    ]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/nothing-here", 404),
        ("delete", "/api/v1/search", 405),
        ("get", "/api/v1/profiles/999999", 404),
    ],
)
def test_errors_under_api_are_json_never_html(demo, token, method, path, status):
    response = getattr(demo.test_client(), method)(path, headers=bearer(token))

    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]["code"]


def test_a_body_over_the_limit_gets_413(demo, token):
    response = demo.test_client().post(
        "/api/v1/search", json={"query": "x" * 300_000}, headers=bearer(token)
    )

    assert (
        response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    )


@pytest.fixture
def limited_token(tmp_path, shared_embedding_cache):
    """An app whose API allows 4 requests a minute, and a token on it."""
    from tests.conftest import make_test_app

    app = make_test_app(
        tmp_path, API_RATE_LIMIT="4 per minute", EMBEDDING_CACHE=str(shared_embedding_cache)
    )
    with app.app_context():
        db.create_all()
        _token, secret = create_token(make_user(Role.SME), "burst")
        db.session.commit()
        yield app.test_client(), secret
        db.session.remove()
        db.engine.dispose()


def test_a_token_over_its_rate_limit_gets_429(limited_token):
    client, secret = limited_token

    statuses = [
        client.get("/api/v1/reference", headers=bearer(secret)).status_code for _ in range(5)
    ]

    assert statuses == [200, 200, 200, 200, 429]
    assert (
        client.get("/api/v1/reference", headers=bearer(secret)).get_json()["error"]["code"]
        == "rate_limited"
    )


def test_a_token_has_one_bucket_however_its_header_is_spelt(limited_token):
    client, secret = limited_token
    spellings = [f"Bearer {secret}", f"bearer {secret}", f"BEARER {secret}", f"Bearer  {secret}"]

    statuses = [
        client.get("/api/v1/reference", headers={"Authorization": spelling}).status_code
        for spelling in spellings * 2
    ]

    assert statuses == [200] * 4 + [429] * 4


def test_every_route_is_in_the_openapi_document(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    described = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }

    routes = {
        (re.sub(r"<id:(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == described


def test_tokens_are_created_on_the_command_line_and_the_account_page(app, db, login_as):
    user = make_user(Role.EXPERT, email="lab@example.org")
    result = app.test_cli_runner().invoke(
        args=["tokens", "create", "lab@example.org", "--name", "scripts"]
    )
    secret = result.output.strip().splitlines()[-1]

    assert secret.startswith("pm_")
    assert app.test_client().get("/api/v1/reference", headers=bearer(secret)).status_code == 200
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash != secret and secret not in stored.prefix + stored.token_hash

    page = login_as(user).post("/account/tokens", data={"name": "CRM sync"}).get_data(as_text=True)
    assert "shown only this once" in page and "pm_" in page
    assert "scripts" in login_as(user).get("/account/tokens").get_data(as_text=True)


def every_protected_route(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = re.sub(r"<id:\w+>", "1", rule.rule)
            routes += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@pytest.mark.parametrize("credential", ["none", "bad", "revoked"])
def test_every_endpoint_refuses_a_missing_bad_or_revoked_token(app, db, credential):
    headers = {}
    if credential == "bad":
        headers = bearer("pm_" + "x" * 43)
    elif credential == "revoked":
        token, secret = create_token(make_user(Role.ADMIN), "old")
        revoke(token)
        db.session.commit()
        headers = bearer(secret)
    client = app.test_client()

    routes = every_protected_route(app)

    assert len(routes) == 32  # 13, the events API's 14, the match thread's 2, the shortlist's 3
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_documentation_page_shows_every_endpoint(app):
    page = app.test_client().get("/api-docs").get_data(as_text=True)
    document = app.test_client().get("/api/v1/openapi.json").get_json()

    for path, operations in document["paths"].items():
        assert f"<code>{path}</code>" in page
        for method in operations:
            assert f'<span class="badge">{method.upper()}</span>' in page
    assert "curl -H" in page


def test_the_documentation_page_renders_markdown_without_raw_html(app):
    page = app.test_client().get("/api-docs").get_data(as_text=True)

    assert "<code>Authorization: Bearer TOKEN</code>" in page
    assert "`Authorization" not in page


def test_markdown_descriptions_cannot_add_markup(app):
    from partnermatch.rendering import render_markdown

    html = render_markdown("Send `a < b` and <script>alert(1)</script>")

    assert "<code>a &lt; b</code>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_search_can_leave_out_weaker_matches(demo, token):
    client = demo.test_client()
    query = "/api/v1/search?q=aluminium%20die%20casting&limit=100"

    everything = client.get(query, headers=bearer(token)).get_json()
    good = client.get(query + "&min_strength=good", headers=bearer(token)).get_json()
    refused = client.get(query + "&min_strength=excellent", headers=bearer(token))

    assert {r["strength"] for r in good["results"]} <= {"good", "strong"}
    assert "weak" in {r["strength"] for r in everything["results"]}  # the default keeps all
    assert [r["id"] for r in good["results"]] == [
        r["id"] for r in everything["results"] if r["strength"] != "weak"
    ]
    assert refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "min_strength"
