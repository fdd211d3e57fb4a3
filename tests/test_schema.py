"""One profile schema: import, export, the API and its OpenAPI document read the same fields
and limits (partnermatch/profiles/schema.py)."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from partnermatch.api.openapi import openapi_document
from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.profiles import schema
from partnermatch.profiles.transfer import CSV_COLUMNS, JSONL_FIELDS, import_profiles
from tests.factories import make_profile, make_user

TEXT_FIELDS = [
    field for field in schema.PROFILE_SCHEMA if field.type == schema.TEXT and field.max_length
]


def test_every_way_in_and_out_names_the_schemas_fields():
    attributes = [field.name for field in dataclasses.fields(schema.ProfileInput)]
    body = openapi_document()["paths"]["/profiles"]["post"]["requestBody"]
    properties = body["content"]["application/json"]["schema"]["properties"]

    assert sorted(attributes) == sorted(field.name for field in schema.PROFILE_SCHEMA)
    assert set(properties) == {"kind", "external_id", *attributes}
    assert set(JSONL_FIELDS) == {"kind", "external_id", "evidence", "email", *attributes} - {
        "contact_email"
    }
    assert {column.split("_", 1)[0] for column in CSV_COLUMNS if column.startswith("organ")} == {
        "organisation"
    }
    assert properties["contact_email"]["maxLength"] == 254
    assert properties["introduction_capacity"]["maximum"] == schema.MAX_CAPACITY


def test_the_api_shows_the_schemas_fields(app, db):
    coordinator = make_user(Role.COORDINATOR)
    profile = make_profile()
    _token, secret = create_token(coordinator, "schema")
    db.session.commit()

    shown = (
        app.test_client()
        .get(f"/api/v1/profiles/{profile.id}", headers={"Authorization": f"Bearer {secret}"})
        .get_json()
    )

    assert set(shown) >= {field.name for field in schema.PROFILE_SCHEMA}


@pytest.mark.parametrize("field", TEXT_FIELDS, ids=lambda field: field.name)
def test_the_documented_length_is_the_one_the_api_and_import_refuse_past(app, db, field):
    coordinator = make_user(Role.COORDINATOR)
    _token, secret = create_token(coordinator, "schema")
    db.session.commit()
    too_long = "x" * (field.max_length + 1)
    if field.name == "contact_email":
        too_long = "x" * (field.max_length - 11) + "@example.org"
    body = {"kind": "sme", "name": "Fits", "economy": "TW", field.name: too_long}

    answer = app.test_client().post(
        "/api/v1/profiles", json=body, headers={"Authorization": f"Bearer {secret}"}
    )
    record = {"external_id": "too-long", **body}
    record[field.named(schema.FILE)] = record.pop(field.name)
    report = import_profiles(io.BytesIO(json.dumps(record).encode()), "jsonl")

    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == field.name
    assert [error.field for error in report.errors] == [field.named(schema.FILE)]
