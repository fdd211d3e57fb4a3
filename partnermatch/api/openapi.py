"""The OpenAPI 3 document of API v1, kept beside the code; a test checks that it describes
every route of the blueprint."""

from __future__ import annotations

from typing import Any

from partnermatch.api.events import MAX_FILTER
from partnermatch.api.parsing import MAX_QUERY_CHARACTERS
from partnermatch.events.models import MAX_ITEM, MAX_ITEMS, ItemKind, NextStep, Usefulness
from partnermatch.inputs import MAX_ID
from partnermatch.profiles import schema
from partnermatch.review.services import MAX_MESSAGE

LIST = {"type": "array", "items": {"type": "string"}}
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
            "required": ["code", "message", "field"],
        }
    },
}
RESULT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "external_id": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["sme", "expert"]},
        "affiliation": {"type": "string"},
        "economy": {"type": "string", "description": "ISO 3166-1 alpha-2 code"},
        "score": {
            "type": "number",
            "description": "Higher is better; the number the engine ranks by.",
        },
        "reasons": LIST,
        "evidence": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "snippet": {"type": "string"}},
            },
        },
    },
}
# One entry of a member's shortlist, as shortlists.services.entry_record writes it.
SHORTLIST_ENTRY = {
    "type": "object",
    "required": ["profile_id", "name", "kind", "economy", "saved_at"],
    "properties": {
        "profile_id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["sme", "expert"]},
        "economy": {"type": "string", "description": "ISO 3166-1 alpha-2 code"},
        "saved_at": {"type": "string", "format": "date-time"},
    },
}
RESULTS = {
    "type": "object",
    "properties": {"results": {"type": "array", "items": RESULT}, "total": {"type": "integer"}},
}
FILTER_PARAMETERS = [
    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["sme", "expert"]}},
    *(
        {"name": name, "in": "query", "schema": LIST, "style": "form", "explode": True}
        for name in ("affiliations", "economies", "exclude_economies", "sectors", "value_chain")
    ),
]


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in (401, 429, *statuses)
    }


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {
        "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
        **_errors(*errors),
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# The page and page size of a list that pages its results.
PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200},
    },
]
PROFILE_ID = {"name": "profile_id", "in": "path", "required": True, "schema": ID}
ITEM_ID = {"name": "item_id", "in": "path", "required": True, "schema": ID}
EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": ID}
PARTICIPANT_ID = {"name": "participant_id", "in": "path", "required": True, "schema": ID}
REQUEST_ID = {"name": "request_id", "in": "path", "required": True, "schema": ID}
MATCH_ID = {"name": "match_id", "in": "path", "required": True, "schema": ID}
MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "side": {"type": "string", "enum": ["sme", "partner"]},
        "from": {"type": "string", "description": "The writing side's profile name."},
        "body": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
MEETING_ID = {"name": "meeting_id", "in": "path", "required": True, "schema": ID}
THIRD_BODY = {
    "type": "object",
    "required": ["participant_id"],
    "properties": {"participant_id": {**ID, "description": "The third party's participant id."}},
}
MARKET_ITEM_ID = {"name": "market_item_id", "in": "path", "required": True, "schema": ID}
# A marketplace item as api/events.py item_json writes it.
MARKET_ITEM = {
    "type": "object",
    "required": ["id", "participant_id", "profile_id", "name", "kind", "text", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "participant_id": {"type": "integer"},
        "profile_id": {"type": "integer"},
        "name": {"type": "string", "description": "The posting participant's profile name."},
        "kind": {"type": "string", "enum": [kind.value for kind in ItemKind]},
        "text": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
# The bodies come from the profile schema, as import, export and the parsing read it.
PROFILE_BODY = schema.json_schema((*schema.IDENTITY_SCHEMA, *schema.PROFILE_SCHEMA))
EVIDENCE_BODY = schema.json_schema(schema.EVIDENCE_SCHEMA)
# And so do the answers (api/views.py profile_json): the same fields with the profile's id,
# the listed ones in lists; contact_email only for its owner and coordinators.
EVIDENCE_ITEM = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, **EVIDENCE_BODY["properties"]},
}
PROFILE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        **PROFILE_BODY["properties"],
        "evidence": {"type": "array", "items": EVIDENCE_ITEM},
        "missing": {**LIST, "description": "what the profile lacks to be complete"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
PROFILE_SUMMARY = {
    "type": "object",
    "properties": {
        name: value
        for name, value in PROFILE["properties"].items()
        if name in ("id", "external_id", "kind")
        or (name in schema.PROFILE_FIELDS and schema.PROFILE_FIELDS[name].listed)
    },
}


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of every API v1 endpoint."""
    search_body = {
        "type": "object",
        "required": ["query"],
        "additionalProperties": False,
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARACTERS},
            "kind": {"type": ["string", "null"], "enum": ["sme", "expert", None]},
            "affiliations": LIST,
            "economies": LIST,
            "exclude_economies": LIST,
            "sectors": LIST,
            "value_chain": LIST,
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
            "offset": {"type": "integer", "minimum": 0, "default": 0},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PartnerMatch API",
            "version": "1",
            "description": (
                "Search, recommendations and profiles. Send `Authorization: Bearer TOKEN`; "
                "create tokens on the account page or with `flask --app wsgi tokens create EMAIL`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "Result": RESULT},
        },
        "paths": {
            "/search": {
                "post": {
                    "summary": "Search profiles by the meaning of a text, with filters.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": search_body}},
                    },
                    "responses": _responses(RESULTS, 400, 413, 422, 503),
                },
                "get": {
                    "summary": "The same search for quick use: `q` and repeated filter parameters.",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        *FILTER_PARAMETERS,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                    "responses": _responses(RESULTS, 422, 503),
                },
            },
            "/profiles/{profile_id}/recommendations": {
                "get": {
                    "summary": "Recommended partners for a profile, with the factors in `reasons`.",
                    "parameters": [
                        PROFILE_ID,
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                    ],
                    "responses": _responses(RESULTS, 404, 422, 503),
                }
            },
            "/profiles": {
                "post": {
                    "summary": "Create a profile: one's own (SME, expert) or, for coordinators, "
                    "an unowned one with `kind` and optionally `external_id`.",
                    "requestBody": _body(PROFILE_BODY),
                    "responses": {
                        "201": {"description": "Created"},
                        **_errors(400, 403, 413, 422),
                    },
                },
                "get": {
                    "summary": "List profiles with filters, a text filter and pages (`next` link).",
                    "parameters": [
                        *FILTER_PARAMETERS,
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        *PAGE_PARAMETERS,
                    ],
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {
                                "profiles": {"type": "array", "items": PROFILE_SUMMARY},
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "next": {"type": ["string", "null"]},
                            },
                        },
                        422,
                    ),
                },
            },
            "/profiles/{profile_id}": {
                "get": {
                    "summary": "One profile; `contact_email` only for its owner and coordinators.",
                    "parameters": [PROFILE_ID],
                    "responses": _responses(PROFILE, 404),
                },
                "patch": {
                    "summary": "Change some fields of a profile (its owner or a coordinator).",
                    "parameters": [PROFILE_ID],
                    "requestBody": _body(PROFILE_BODY),
                    "responses": _responses(PROFILE, 400, 403, 404, 413, 422),
                },
                "delete": {
                    "summary": "Delete a profile with its evidence (its owner or a coordinator).",
                    "parameters": [PROFILE_ID],
                    "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
                },
            },
            "/shortlist": {
                "get": {
                    "summary": "The token's account's shortlist, last saved first.",
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {"entries": {"type": "array", "items": SHORTLIST_ENTRY}},
                        }
                    ),
                },
                "post": {
                    "summary": "Save a partner profile to the shortlist (again: no change).",
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["profile_id"],
                            "properties": {"profile_id": ID},
                        }
                    ),
                    "responses": {
                        "201": {
                            "description": "Saved",
                            "content": {"application/json": {"schema": SHORTLIST_ENTRY}},
                        },
                        **_errors(400, 404, 413, 422),
                    },
                },
            },
            "/shortlist/{profile_id}": {
                "delete": {
                    "summary": "Take a profile off the shortlist.",
                    "parameters": [PROFILE_ID],
                    "responses": {"204": {"description": "Removed"}, **_errors(404)},
                },
            },
            "/profiles/{profile_id}/evidence": {
                "get": {
                    "summary": "A profile's evidence items.",
                    "parameters": [PROFILE_ID],
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {"evidence": {"type": "array", "items": EVIDENCE_ITEM}},
                        },
                        404,
                    ),
                },
                "post": {
                    "summary": "Add a publication, project, product or patent.",
                    "parameters": [PROFILE_ID],
                    "requestBody": _body(EVIDENCE_BODY),
                    "responses": {
                        "201": {"description": "Created"},
                        **_errors(400, 403, 404, 413, 422),
                    },
                },
            },
            "/profiles/{profile_id}/evidence/{item_id}": {
                "patch": {
                    "summary": "Change an evidence item.",
                    "parameters": [PROFILE_ID, ITEM_ID],
                    "requestBody": _body(EVIDENCE_BODY),
                    "responses": _responses({"type": "object"}, 400, 403, 404, 413, 422),
                },
                "delete": {
                    "summary": "Remove an evidence item.",
                    "parameters": [PROFILE_ID, ITEM_ID],
                    "responses": {"204": {"description": "Deleted"}, **_errors(403, 404)},
                },
            },
            "/events": {
                "get": {
                    "summary": "Upcoming and past brokerage events, with sessions and windows.",
                    "responses": _responses({"type": "object"}),
                }
            },
            "/events/{event_id}/participants": {
                "get": {
                    "summary": "An event's participants: profile, kind, economy, sessions, cap.",
                    "parameters": [EVENT_ID],
                    "responses": _responses({"type": "object"}, 404),
                }
            },
            "/events/{event_id}/participants/{participant_id}/agenda": {
                "get": {
                    "summary": "A participant's meetings (its owner's or staff's token).",
                    "parameters": [EVENT_ID, PARTICIPANT_ID],
                    "responses": _responses({"type": "object"}, 403, 404),
                }
            },
            "/events/{event_id}/requests": {
                "post": {
                    "summary": "Ask another participant to meet, with a short reason.",
                    "parameters": [EVENT_ID],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["to_participant_id", "reason"],
                            "properties": {
                                "to_participant_id": ID,
                                "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                            },
                        }
                    ),
                    "responses": {
                        "201": {"description": "Created"},
                        **_errors(400, 403, 404, 413, 422),
                    },
                }
            },
            "/events/{event_id}/requests/{request_id}/accept": {
                "post": {
                    "summary": "Accept a request to meet (its recipient).",
                    "parameters": [EVENT_ID, REQUEST_ID],
                    "responses": _responses({"type": "object"}, 404, 422),
                }
            },
            "/events/{event_id}/requests/{request_id}/decline": {
                "post": {
                    "summary": "Decline a request to meet (its recipient).",
                    "parameters": [EVENT_ID, REQUEST_ID],
                    "responses": _responses({"type": "object"}, 404, 422),
                }
            },
            "/events/{event_id}/meetings/{meeting_id}/feedback": {
                "get": {
                    "summary": "Answers after a meeting: a party's own, or both for staff.",
                    "parameters": [EVENT_ID, MEETING_ID],
                    "responses": _responses({"type": "object"}, 404),
                },
                "post": {
                    "summary": "Give or change a party's answers once the meeting has ended.",
                    "parameters": [EVENT_ID, MEETING_ID],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["useful", "next_step"],
                            "properties": {
                                "useful": {"type": "string", "enum": [u.value for u in Usefulness]},
                                "next_step": {
                                    "type": "string",
                                    "enum": [step.value for step in NextStep],
                                },
                                "note": {"type": "string", "maxLength": 1000},
                                "participant_id": {
                                    **ID,
                                    "description": "Which party answers, when the token's "
                                    "account answers for both (staff, profiles without account).",
                                },
                            },
                        }
                    ),
                    "responses": {
                        "200": {"description": "Changed"},
                        "201": {"description": "Created"},
                        **_errors(400, 404, 413, 422),
                    },
                },
            },
            "/events/{event_id}/requests/{request_id}/third": {
                "post": {
                    "summary": "Add a third party to a request to meet (a coordinator's token).",
                    "description": (
                        "The third party is a participant of the same event, not one of the "
                        "two, who attends a session both attend; the meeting the request "
                        "becomes seats all three, and all three are told."
                    ),
                    "parameters": [EVENT_ID, REQUEST_ID],
                    "requestBody": _body(THIRD_BODY),
                    "responses": _responses({"type": "object"}, 400, 403, 404, 413, 422),
                }
            },
            "/events/{event_id}/meetings/{meeting_id}/third": {
                "post": {
                    "summary": "Seat a third party at a scheduled meeting (a coordinator's token).",
                    "description": (
                        "The third party attends the meeting's session and is free at its "
                        "time; once the meeting is published, all three are told."
                    ),
                    "parameters": [EVENT_ID, MEETING_ID],
                    "requestBody": _body(THIRD_BODY),
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {
                                "meeting_id": {"type": "integer"},
                                "participant_ids": {"type": "array", "items": {"type": "integer"}},
                                "state": {"type": "string"},
                            },
                        },
                        400,
                        403,
                        404,
                        413,
                        422,
                    ),
                }
            },
            "/events/{event_id}/marketplace": {
                "get": {
                    "summary": "The event's offers and needs, newest first, in pages.",
                    "description": (
                        "`q` keeps items holding every word (in the text or the poster's "
                        "name); `kind` keeps offers or needs. `open` says whether items may "
                        "still be posted (until the event ends)."
                    ),
                    "parameters": [
                        EVENT_ID,
                        {
                            "name": "q",
                            "in": "query",
                            "schema": {"type": "string", "maxLength": MAX_FILTER},
                        },
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": {"type": "string", "enum": [k.value for k in ItemKind]},
                        },
                        *PAGE_PARAMETERS,
                    ],
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": MARKET_ITEM},
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "next": {"type": ["string", "null"]},
                                "open": {"type": "boolean"},
                            },
                        },
                        404,
                        422,
                    ),
                },
                "post": {
                    "summary": "Post an item as the token's account's participant.",
                    "description": (
                        f"Registered participants only (403 otherwise), at most {MAX_ITEMS} "
                        "items each, until the event ends; 422 names the field at fault."
                    ),
                    "parameters": [EVENT_ID],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["kind", "text"],
                            "additionalProperties": False,
                            "properties": {
                                "kind": {"type": "string", "enum": [k.value for k in ItemKind]},
                                "text": {"type": "string", "minLength": 1, "maxLength": MAX_ITEM},
                            },
                        }
                    ),
                    "responses": {
                        "201": {
                            "description": "Posted",
                            "content": {"application/json": {"schema": MARKET_ITEM}},
                        },
                        **_errors(400, 403, 404, 413, 422),
                    },
                },
            },
            "/events/{event_id}/marketplace/{market_item_id}": {
                "delete": {
                    "summary": "Remove an item (its participant's owner, or a coordinator).",
                    "parameters": [EVENT_ID, MARKET_ITEM_ID],
                    "responses": {"204": {"description": "Removed"}, **_errors(403, 404)},
                },
            },
            "/events/{event_id}/marketplace/matches": {
                "get": {
                    "summary": "The token's participant's items, each with the closest items "
                    "of the other kind that others posted (`score`: cosine, best first).",
                    "parameters": [EVENT_ID],
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {
                                "matches": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "item": MARKET_ITEM,
                                            "counterparts": {
                                                "type": "array",
                                                "items": {
                                                    **MARKET_ITEM,
                                                    "properties": {
                                                        **MARKET_ITEM["properties"],
                                                        "score": {"type": "number"},
                                                    },
                                                },
                                            },
                                        },
                                    },
                                }
                            },
                        },
                        403,
                        404,
                        503,
                    ),
                }
            },
            "/matches/{match_id}/messages": {
                "get": {
                    "summary": "The thread between the two parties of an introduction.",
                    "description": (
                        "Latest first, 50 a page (`page`, with a `next` link). The parties "
                        "read it once both accepted the introduction, staff read every "
                        "thread. Reading here does not mark messages read."
                    ),
                    "parameters": [
                        MATCH_ID,
                        {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": _responses(
                        {
                            "type": "object",
                            "properties": {
                                "messages": {"type": "array", "items": MESSAGE},
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "next": {"type": ["string", "null"]},
                            },
                        },
                        403,
                        404,
                        422,
                    ),
                },
                "post": {
                    "summary": "Write to the other party (the parties only, plain text).",
                    "description": (
                        "The other party is told in the app and by email, without the text. "
                        "403 before both parties accepted and for staff, who read without "
                        "writing; 422 for an empty or too long `body`."
                    ),
                    "parameters": [MATCH_ID],
                    "requestBody": _body(
                        {
                            "type": "object",
                            "required": ["body"],
                            "properties": {
                                "body": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_MESSAGE,
                                }
                            },
                        }
                    ),
                    "responses": {
                        "201": {
                            "description": "Created",
                            "content": {"application/json": {"schema": MESSAGE}},
                        },
                        **_errors(400, 403, 404, 413, 422),
                    },
                },
            },
            "/reference": {
                "get": {
                    "summary": "Economies (code, name, APEC flag), sectors, value-chain positions.",
                    "responses": _responses({"type": "object"}),
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "security": [],
                    "responses": {
                        "200": {"description": "OK", "content": {"application/json": {}}}
                    },
                }
            },
        },
    }
