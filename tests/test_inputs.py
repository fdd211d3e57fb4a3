"""Input that crashed the app in the probe (issue 15): numbers, ids, deep JSON, lone surrogates
and large bodies are refused with a 4xx and a message, never a 500."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.test import EnvironBuilder

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.errors import ValidationError
from partnermatch.extensions import db
from partnermatch.inputs import (
    MAX_ID,
    IdConverter,
    InputTooLarge,
    clean_text,
    load_json,
    parse_int,
)
from tests.factories import make_profile, make_user

ODD_NUMBERS = ["--5", "²", "⁵", "٣", "9" * 5000, "1e3", "0x10", "3.0", "+-1", "1 000"]


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def token(app, db) -> str:
    _token, secret = create_token(make_user(Role.COORDINATOR), "probe")
    db.session.commit()
    return secret


# --- the one integer parser -------------------------------------------------------------------


@pytest.mark.parametrize("value", [*ODD_NUMBERS, str(2**63), str(2**31), True, 2.0, [], {}])
def test_the_integer_parser_refuses_what_is_not_a_plain_whole_number(value):
    with pytest.raises(ValidationError) as refused:
        parse_int(value, "limit", low=0, high=10**6)

    assert refused.value.field == "limit"
    assert refused.value.message == "Give a whole number from 0 to 1000000."


def test_the_integer_parser_reads_digits_and_ints_within_bounds():
    assert parse_int(" 42 ", "n", low=1, high=100) == 42
    assert parse_int("+7", "n", low=1, high=100) == 7
    assert parse_int(MAX_ID, "id", low=1, high=MAX_ID) == MAX_ID
    assert parse_int("", "n", low=1, high=100, default=5) == 5
    with pytest.raises(ValidationError):
        parse_int(str(MAX_ID + 1), "id", low=1, high=MAX_ID)


@pytest.mark.parametrize("value", ["--5", "²", "⁵", "9" * 5000, "-1", str(2**63), str(2**31)])
@pytest.mark.parametrize("name", ["limit", "offset"])
def test_search_numbers_that_pass_isdigit_get_422_not_500(app, token, name, value):
    response = app.test_client().get(
        "/api/v1/search", query_string={"q": "casting", name: value}, headers=bearer(token)
    )

    assert response.status_code == 422, response.get_data(as_text=True)[:200]
    assert response.get_json()["error"]["field"] == name


@pytest.mark.parametrize("name", ["page", "per_page"])
def test_list_numbers_that_pass_isdigit_get_422_not_500(app, token, name):
    for value in ("--5", "²", str(2**63), "9" * 5000):
        response = app.test_client().get(
            "/api/v1/profiles", query_string={name: value}, headers=bearer(token)
        )
        assert response.status_code == 422, (value, response.status_code)
        assert response.get_json()["error"]["field"] == name


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/profiles", {"introduction_capacity": "--5"}, "introduction_capacity"),
        ("/api/v1/profiles", {"introduction_capacity": "²"}, "introduction_capacity"),
        ("/api/v1/profiles", {"introduction_capacity": 2**63}, "introduction_capacity"),
        ("/api/v1/profiles/{id}/evidence", {"kind": "patent", "title": "t", "year": "⁵"}, "year"),
        ("/api/v1/profiles/{id}/evidence", {"kind": "patent", "title": "t", "year": 2**64}, "year"),
    ],
)
def test_numbers_in_json_bodies_that_pass_isdigit_get_422(app, db, path, body, field):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner)
    _token, secret = create_token(make_user(Role.COORDINATOR), "probe")
    db.session.commit()

    base = {"kind": "sme", "name": "N", "economy": "TW"} if path == "/api/v1/profiles" else {}
    response = app.test_client().post(
        path.format(id=profile.id), json={**base, **body}, headers=bearer(secret)
    )

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field


# --- the one id converter ---------------------------------------------------------------------


def id_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.arguments and all(name.endswith("_id") for name in rule.arguments):
            yield rule


def test_every_route_taking_an_id_reads_it_with_the_id_converter(app):
    rules = list(id_routes(app))

    assert len(rules) >= 20
    for rule in rules:
        for name in rule.arguments:
            assert isinstance(rule._converters[name], IdConverter), (rule.rule, name)


@pytest.mark.parametrize("value", [str(2**63), str(MAX_ID + 1), "9" * 30, "0", "٣"])
def test_ids_out_of_range_give_404_on_every_route(app, db, login_as, value):
    client = login_as(make_user(Role.ADMIN))
    for rule in id_routes(app):
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<id:{name}>", value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            # Werkzeug answers 405 when the same path takes another method (GET) whose
            # converter refused the id too: a 4xx either way, never the database's OverflowError.
            assert response.status_code in (404, 405), (method, path, response.status_code)


@pytest.mark.postgres  # PostgreSQL's INTEGER ids are the narrowest
@pytest.mark.parametrize("role", [Role.ADMIN, Role.SME])
def test_the_largest_id_gets_an_answer_not_a_server_error(app, db, login_as, token, role):
    client = login_as(make_user(role))
    for rule in id_routes(app):
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<id:{name}>", str(MAX_ID))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            headers = bearer(token) if path.startswith("/api/") else {}
            response = client.open(path, method=method, headers=headers, json={})
            assert response.status_code in (403, 404), (method, path, response.status_code)


@pytest.mark.parametrize("page", ["--5", "²", str(2**63), "9" * 5000, "0"])
@pytest.mark.parametrize(
    "path", ["/review/", "/users", "/notifications", "/outbox", "/profiles/", "/search/?q=x&"]
)
def test_odd_page_numbers_on_lists_are_refused_or_ignored_never_a_500(
    app, db, login_as, path, page
):
    client = login_as(make_user(Role.ADMIN))

    separator = "" if path.endswith("&") else "?"
    response = client.get(f"{path}{separator}page={page}")

    assert response.status_code in (200, 404), response.status_code


def test_bulk_review_with_an_id_past_2_63_is_refused_with_a_message(app, db, login_as):
    client = login_as(make_user(Role.COORDINATOR))

    response = client.post("/review/bulk", data={"match_ids": [str(2**63)], "action": "approve"})

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Select at least one suggested match" in page


# --- the one JSON loader ----------------------------------------------------------------------


def test_the_json_loader_refuses_deep_nesting_nan_and_size_and_names_lone_surrogates():
    with pytest.raises(ValidationError, match="levels deep"):
        load_json("[" * 1000 + "]" * 1000, max_bytes=10_000)
    with pytest.raises(ValidationError, match="levels deep"):
        load_json('{"a": ' * 33 + "1" + "}" * 33, max_bytes=10_000)
    with pytest.raises(ValidationError, match="not a JSON value"):
        load_json('{"limit": NaN}', max_bytes=100)
    with pytest.raises(InputTooLarge):
        load_json(b"[" + b"1," * 100 + b"1]", max_bytes=100)
    with pytest.raises(ValidationError) as refused:
        load_json('{"evidence": [{"title": "\\ud800"}]}', max_bytes=100)
    assert refused.value.field == "evidence[0].title"
    assert load_json('{"a": [{"b": "\\u00e9"}]}', max_bytes=100) == {"a": [{"b": "é"}]}


def test_json_nested_1000_deep_gets_400_not_500(app, token):
    response = app.test_client().post(
        "/api/v1/search",
        data="[" * 1000 + "]" * 1000,
        content_type="application/json",
        headers=bearer(token),
    )

    assert response.status_code == 400
    assert "levels deep" in response.get_json()["error"]["message"]


def chunked(app, path: str, body: bytes, token: str):
    """Send a body without Content-Length, as a chunked request reaches the app from gunicorn
    (which sets wsgi.input_terminated)."""
    builder = EnvironBuilder(
        path=path,
        method="POST",
        input_stream=io.BytesIO(body),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    environ = builder.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True
    return app.test_client().open(environ)


@pytest.mark.parametrize("size", [300 * 1024, 1024 * 1024, 10 * 1024 * 1024])
def test_a_chunked_body_over_256_kb_gets_413(app, token, size):
    body = json.dumps({"query": "x" * size}).encode()

    response = chunked(app, "/api/v1/search", body, token)

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_chunked_body_within_the_limit_is_read(app, token):
    response = chunked(
        app, "/api/v1/search", json.dumps({"query": "x", "limit": "--5"}).encode(), token
    )

    assert response.status_code == 422 and response.get_json()["error"]["field"] == "limit"


# --- the one text cleaner ---------------------------------------------------------------------


def test_the_text_cleaner_refuses_what_cannot_be_stored_and_trims_the_rest():
    assert clean_text("  Café \t", "name") == "Café"
    for bad in ("\ud800", "a\udfffb", "x\x00y"):
        with pytest.raises(ValidationError) as refused:
            clean_text(bad, "name")
        assert refused.value.field == "name"
    with pytest.raises(ValidationError, match="at most 3 characters"):
        clean_text("abcd", "name", max_length=3)


def test_a_lone_surrogate_in_a_search_query_gets_422_naming_the_query(app, token):
    for response in (
        app.test_client().post(
            "/api/v1/search", json={"query": "casting \ud800"}, headers=bearer(token)
        ),
        app.test_client().post(
            "/api/v1/search",
            data=b'{"query": "casting \\udfff"}',
            content_type="application/json",
            headers=bearer(token),
        ),
    ):
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == "query"
        assert "U+D" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Lone \ud800"}, "name"),
        ({"city": "\udce9"}, "city"),
        ({"summary": "a\udfffb"}, "summary"),
        ({"keywords": ["\ud83d"]}, "keywords[0]"),
        ({"organisation": {"name": "\udc00 Ltd"}}, "organisation.name"),
        ({"external_id": "crm-\ud800"}, "external_id"),
    ],
)
def test_lone_surrogates_in_a_profile_get_422_naming_the_field(app, token, body, field):
    response = app.test_client().post(
        "/api/v1/profiles",
        json={"kind": "sme", "name": "N", "economy": "TW", **body},
        headers=bearer(token),
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert (
        db.session.scalar(db.select(db.func.count()).select_from(db.metadata.tables["profiles"]))
        == 0
    )


def test_a_lone_surrogate_in_an_evidence_title_gets_422(app, db):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner)
    _token, secret = create_token(owner, "probe")
    db.session.commit()

    response = app.test_client().post(
        f"/api/v1/profiles/{profile.id}/evidence",
        json={"kind": "patent", "title": "\ud800"},
        headers=bearer(secret),
    )

    assert response.status_code == 422 and response.get_json()["error"]["field"] == "title"


@pytest.mark.parametrize("value", [str(2**63), "²", "0"])
def test_the_command_line_reads_ids_with_the_id_parser(runner, value):
    result = runner.invoke(args=["matches", "recommend", value])

    assert result.exit_code == 2  # a usage error, not a traceback
    assert f"Give a whole number from 1 to {MAX_ID}." in result.output
