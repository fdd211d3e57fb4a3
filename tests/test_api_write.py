"""Changing profiles and evidence through the API, with the same rights as the pages; fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.events import participation
from partnermatch.extensions import db
from partnermatch.profiles.models import EvidenceItem, Profile
from tests.factories import make_profile, make_user
from tests.test_event_participation import make_event

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def token_for(user) -> dict[str, str]:
    _token, secret = create_token(user, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


NEW_PROFILE = {
    "name": "Cebu Jeepney Works",
    "economy": "The Philippines",
    "sectors": ["green-vehicles"],
    "value_chain": ["integration"],
    "offers": "Electric jeepney body assembly.",
    "organisation": {"name": "Cebu Jeepney Works Inc.", "kind": "sme"},
}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_sme_creates_its_own_profile(app, db):
    user = make_user(Role.SME)
    response = app.test_client().post("/api/v1/profiles", json=NEW_PROFILE, headers=token_for(user))

    assert response.status_code == 201
    body = response.get_json()
    assert (body["kind"], body["economy"], body["affiliation"]) == ("sme", "PH", "industry")
    assert db.session.get(Profile, body["id"]).owner_id == user.id


def test_a_coordinator_creates_an_unowned_profile_with_an_external_id(app, db):
    headers = token_for(make_user(Role.COORDINATOR))

    response = app.test_client().post(
        "/api/v1/profiles",
        json={**NEW_PROFILE, "kind": "expert", "affiliation": "research", "external_id": "crm-42"},
        headers=headers,
    )

    assert response.status_code == 201
    profile = db.session.get(Profile, response.get_json()["id"])
    assert (profile.external_id, profile.owner_id, profile.kind.value) == ("crm-42", None, "expert")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"economy": "Atlantis"}, "economy"),
        ({"sectors": ["alchemy"]}, "sectors"),
        ({"introduction_capacity": "--5"}, "introduction_capacity"),
        ({"organisation": {"name": "ACME", "kind": "guild"}}, "organisation.kind"),
        ({"organisation": {"kind": "sme"}}, "organisation.name"),
        ({"city": ["Cebu"]}, "city"),
        ({"name": ""}, "name"),
        ({"introduction_capacity": 500}, "introduction_capacity"),
        ({"website": "not a url"}, "website"),
        ({"kind": "expert"}, "kind"),
        ({"colour": "blue"}, "colour"),
        ({"organisation": "ACME"}, "organisation"),
    ],
)
def test_a_bad_patch_names_the_field_and_changes_nothing(app, db, change, field):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, name="Original")

    response = app.test_client().patch(
        f"/api/v1/profiles/{profile.id}", json=change, headers=token_for(owner)
    )

    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Original"


def test_a_profile_without_sectors_or_positions_is_kept_and_says_what_it_misses(app, db):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner)

    response = app.test_client().patch(
        f"/api/v1/profiles/{profile.id}",
        json={"sectors": [], "value_chain": []},
        headers=token_for(owner),
    )

    assert response.status_code == 200
    assert response.get_json()["missing"] == ["sectors", "value_chain"]


def test_the_owner_patches_some_fields(app, db):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, name="Original", city="Kaohsiung")

    response = app.test_client().patch(
        f"/api/v1/profiles/{profile.id}",
        json={"name": "Renamed", "introduction_capacity": 2},
        headers=token_for(owner),
    )

    assert response.status_code == 200
    db.session.expire_all()
    changed = db.session.get(Profile, profile.id)
    assert (changed.name, changed.city, changed.introduction_capacity) == (
        "Renamed",
        "Kaohsiung",
        2,
    )


def test_an_sme_token_cannot_change_another_profile(app, db):
    other = make_profile(owner=make_user(Role.SME), name="Not yours")
    headers = token_for(make_user(Role.SME))
    client = app.test_client()

    assert (
        client.patch(
            f"/api/v1/profiles/{other.id}", json={"name": "Hijacked"}, headers=headers
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/profiles/{other.id}", headers=headers).status_code == 403
    assert (
        client.post(
            f"/api/v1/profiles/{other.id}/evidence",
            json={"kind": "product", "title": "x"},
            headers=headers,
        ).status_code
        == 403
    )
    db.session.expire_all()
    assert db.session.get(Profile, other.id).name == "Not yours"


def test_evidence_is_added_changed_listed_and_removed(app, db):
    owner = make_user(Role.EXPERT)
    profile = make_profile("expert", owner=owner)
    headers = token_for(owner)
    client = app.test_client()

    added = client.post(
        f"/api/v1/profiles/{profile.id}/evidence",
        json={"kind": "publication", "title": "Cast brackets", "year": 2023},
        headers=headers,
    )
    item_id = added.get_json()["id"]
    changed = client.patch(
        f"/api/v1/profiles/{profile.id}/evidence/{item_id}", json={"year": None}, headers=headers
    )
    listed = client.get(f"/api/v1/profiles/{profile.id}/evidence", headers=headers).get_json()
    bad = client.post(
        f"/api/v1/profiles/{profile.id}/evidence",
        json={"kind": "rumour", "title": "x"},
        headers=headers,
    )
    removed = client.delete(f"/api/v1/profiles/{profile.id}/evidence/{item_id}", headers=headers)

    assert added.status_code == 201 and changed.get_json()["year"] is None
    assert [item["title"] for item in listed["evidence"]] == ["Cast brackets"]
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "kind"
    assert removed.status_code == 204 and count(EvidenceItem) == 0


def test_the_owner_deletes_a_profile(app, db):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, evidence=2)

    client = app.test_client()
    response = client.delete(f"/api/v1/profiles/{profile.id}", headers=token_for(owner))

    assert response.status_code == 204
    # Gone from the API at once; kept (restorable on the site) until it is purged.
    assert client.get(f"/api/v1/profiles/{profile.id}", headers=token_for(owner)).status_code == 404
    listed = client.get("/api/v1/profiles", headers=token_for(owner)).get_json()
    assert listed["total"] == 0
    assert count(Profile) == 1 and count(EvidenceItem) == 2


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
SEARCH_KEYS = st.sampled_from(
    [
        "query",
        "kind",
        "affiliations",
        "economies",
        "exclude_economies",
        "sectors",
        "value_chain",
        "limit",
        "offset",
        "extra",
    ]
)
PROFILE_KEYS = st.sampled_from(
    [
        "name",
        "economy",
        "sectors",
        "value_chain",
        "organisation",
        "introduction_capacity",
        "keywords",
        "languages",
        "website",
        "kind",
        "x",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.dictionaries(SEARCH_KEYS, JSON_VALUES, max_size=6) | JSON_VALUES)
def test_fuzzed_search_bodies_never_cause_a_server_error(app, db, body):
    app.config["API_RATE_LIMIT"] = "off"  # a trusted batch of requests, as documented
    headers = (
        token_for(make_user(Role.SME)) if not hasattr(app, "_fuzz_headers") else app._fuzz_headers
    )
    app._fuzz_headers = headers

    response = app.test_client().post("/api/v1/search", json=body, headers=headers)

    # No search index in this app: a valid body gets 503, anything else a 4xx; never a 500.
    assert response.status_code in (400, 413, 422, 503), (body, response.get_json())
    assert response.is_json


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(change=st.dictionaries(PROFILE_KEYS, JSON_VALUES, max_size=5))
def test_fuzzed_profile_patches_never_cause_a_server_error_or_a_partial_write(app, db, change):
    app.config["API_RATE_LIMIT"] = "off"
    if not hasattr(app, "_fuzz_profile"):
        owner = make_user(Role.SME)
        app._fuzz_profile = make_profile(owner=owner, name="Fuzzed").id
        app._fuzz_headers = token_for(owner)
    before = db.session.get(Profile, app._fuzz_profile).updated_at

    response = app.test_client().patch(
        f"/api/v1/profiles/{app._fuzz_profile}", json=change, headers=app._fuzz_headers
    )

    assert response.status_code in (200, 400, 422), (change, response.get_json())
    db.session.expire_all()
    if response.status_code != 200:
        assert db.session.get(Profile, app._fuzz_profile).updated_at == before


def value_for(schema: dict) -> st.SearchStrategy:
    """Values of a documented field's type, mixed with arbitrary JSON to probe the edges."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    typed = []
    if "string" in types:
        typed.append(
            st.sampled_from(schema["enum"]) if schema.get("enum") else st.text(max_size=40)
        )
    if "integer" in types:
        typed.append(st.integers(min_value=-5, max_value=schema.get("maximum", 10_000) + 5))
    if "array" in types:
        typed.append(
            st.lists(st.sampled_from(["metal", "VN", "Viet Nam", "testing", "x", ""]), max_size=3)
        )
    if "null" in types:
        typed.append(st.none())
    if "object" in types:
        typed.append(
            st.fixed_dictionaries(
                {"name": st.text(max_size=20)}, optional={"kind": st.text(max_size=10)}
            )
        )
    return st.one_of(*typed, JSON_VALUES) if typed else JSON_VALUES


def documented_bodies(document: dict) -> list[tuple[str, str, dict]]:
    """Every (method, path, body schema) the OpenAPI document declares."""
    return [
        (method, path, operation["requestBody"]["content"]["application/json"]["schema"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_bodies_drawn_from_the_openapi_document_never_cause_a_server_error(app, db, data):
    app.config["API_RATE_LIMIT"] = "off"
    if not hasattr(app, "_documented"):
        owner = make_user(Role.COORDINATOR)
        profile = make_profile(owner=None, name="Target")
        item = make_profile("expert", name="With evidence", evidence=1).evidence[0]
        app._documented = documented_bodies(
            app.test_client().get("/api/v1/openapi.json").get_json()
        )
        app._targets = {"profile_id": str(profile.id), "item_id": str(item.id)}
        app._targets["item_profile"] = str(item.profile_id)
        # An event where an SME is registered: its token sends the events' bodies, which
        # the marketplace and requests take for real.
        event = make_event()
        attendee = make_user(Role.SME)
        participation.register(
            event, make_profile(owner=attendee, name="Own"), event.sessions, None, attendee
        )
        participation.register(
            event, make_profile("expert", name="Other"), event.sessions, None, owner
        )
        db.session.commit()
        app._targets["event_id"] = str(event.id)
        app._event_headers = token_for(attendee)
        app._fuzz_headers = token_for(owner)
    method, path, schema = data.draw(st.sampled_from(app._documented))
    properties = schema["properties"]
    fields = {name: value_for(spec) for name, spec in properties.items()}
    body = data.draw(st.fixed_dictionaries({}, optional={**fields, "unknown_field": JSON_VALUES}))
    url = "/api/v1" + path.replace("{item_id}", app._targets["item_id"]).replace(
        "{profile_id}",
        app._targets["item_profile"] if "{item_id}" in path else app._targets["profile_id"],
    ).replace("{event_id}", app._targets["event_id"])

    headers = app._event_headers if "{event_id}" in path else app._fuzz_headers
    response = app.test_client().open(url, method=method.upper(), json=body, headers=headers)

    assert response.status_code < 500 or response.status_code == 503, (
        method,
        url,
        body,
        response.get_json(),
    )
    assert response.is_json or response.status_code == 204
