"""JSON API v1. Every request carries `Authorization: Bearer TOKEN`; cookies do not count."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from partnermatch import presentation, reference
from partnermatch.api import parsing
from partnermatch.api.errors import ApiError, error_response, http_error_response
from partnermatch.api.events import register_routes as register_event_routes
from partnermatch.api.matches import register_routes as register_match_routes
from partnermatch.api.openapi import openapi_document
from partnermatch.auth.models import Role
from partnermatch.auth.tokens import ApiToken, active_token, record_use
from partnermatch.errors import ValidationError
from partnermatch.extensions import db, limiter
from partnermatch.inputs import InputTooLarge, load_json, parse_id
from partnermatch.matching.engine import IndexUnavailable
from partnermatch.matching.extension import get_engine
from partnermatch.matching.recommend import recommend
from partnermatch.matching.search import search
from partnermatch.profiles import schema
from partnermatch.profiles import services as profiles
from partnermatch.profiles.models import EvidenceItem, Profile
from partnermatch.profiles.services import EvidenceInput, ProfileInput
from partnermatch.review.learning import current_weights
from partnermatch.shortlists import services as shortlists

bp = Blueprint("api", __name__, url_prefix="/api/v1")


TOKEN_KEY = "partnermatch.api_token"


def _bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def request_token() -> ApiToken | None:
    """Return the active token this request authenticates with, looked up once a request
    (the rate limit's key reads it before authentication does)."""
    # Kept on the request itself (g outlives a request when a test holds the app context).
    if TOKEN_KEY not in request.environ:
        secret = _bearer_secret()
        request.environ[TOKEN_KEY] = active_token(secret) if secret else None
    return request.environ[TOKEN_KEY]


def rate_limit_key() -> str:
    """Count by the token's id: however its header is spelt (bearer, BEARER, two spaces), a
    token has one bucket. Requests without a valid token count by client address."""
    token = request_token()
    return f"api-token:{token.id}" if token else f"api-client:{get_remote_address()}"


limiter.limit(
    lambda: current_app.config["API_RATE_LIMIT"],
    key_func=rate_limit_key,
    exempt_when=lambda: str(current_app.config["API_RATE_LIMIT"]).lower() == "off",
)(bp)
PUBLIC_ENDPOINTS = {"api.openapi"}
LIST_PARAMETERS = ("affiliations", "economies", "exclude_economies", "sectors", "value_chain")


@bp.before_request
def limit_body_size() -> None:
    # Per request, before anything reads the body: werkzeug then refuses a Content-Length
    # over it (413) and stops reading a chunked body (no Content-Length, as gunicorn passes
    # it) at it, silently: one byte past the limit is read, so that the JSON loader's size
    # check sees the body is too large and answers 413, not "not valid JSON".
    request.max_content_length = current_app.config["API_MAX_BODY_BYTES"] + 1


@bp.before_request
def authenticate() -> tuple[Response, int] | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    secret = _bearer_secret()
    if secret is None:
        return error_response(401, "Send 'Authorization: Bearer TOKEN' (tokens: account settings).")
    token = request_token()
    if token is None:
        db.session.rollback()
        return error_response(401, "This token is unknown or revoked.")
    user = token.user
    # End the read first, so that the write below starts a transaction of its own: under WAL
    # a transaction that read before another process committed can no longer write.
    db.session.commit()
    record_use(secret)
    db.session.commit()
    g.api_user = user
    return None


@bp.errorhandler(ApiError)
def api_error(error: ApiError) -> tuple[Response, int]:
    return error_response(error.status, error.message, error.field)


@bp.errorhandler(IndexUnavailable)
def index_unavailable(error: IndexUnavailable) -> tuple[Response, int]:
    body, _ = error_response(503, str(error))
    return body, 503


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, or raise a 400 (413, 422) that says what is wrong."""
    raw = request.get_data()
    if not raw:
        raise ApiError(400, "Send a JSON object in the request body.")
    try:
        data = load_json(raw, max_bytes=current_app.config["API_MAX_BODY_BYTES"])
    except InputTooLarge as error:
        raise ApiError(413, error.message) from None
    except ValidationError as error:
        # A string that cannot be stored names its field (422); malformed JSON is a 400.
        if error.field == "body":
            raise ApiError(400, error.message) from None
        raise ApiError(422, error.message, error.field) from None
    if not isinstance(data, dict):
        raise ApiError(400, "Send a JSON object, not a list or a value.")
    return data


def profile_json(profile: Profile, *, full: bool = True) -> dict[str, Any]:
    """Return a profile as the API shows it: the contact email only where the page would."""
    fields = schema.record_of(
        profile, schema.API, private=full and profiles.can_see_contact(g.api_user, profile)
    )
    data: dict[str, Any] = {
        "id": profile.id,
        "external_id": profile.external_id,
        "kind": profile.kind.value,
        **{
            name: value
            for name, value in fields.items()
            if full or schema.PROFILE_FIELDS[name].listed
        },
    }
    if full:
        data.update(
            evidence=[_evidence_json(item) for item in profile.evidence],
            # What the profile lacks to be complete (services.profile_missing).
            missing=profiles.profile_missing(profile),
            updated_at=profile.updated_at.isoformat(),
        )
    return data


def _search(data: dict[str, Any]) -> Response:
    wanted = parsing.search_request(data)
    found = search(
        get_engine(),
        wanted.query,
        wanted.filters,
        limit=wanted.limit,
        offset=wanted.offset,
        searcher=g.api_user.profile,
        min_strength=wanted.min_strength,
    )
    return jsonify(
        results=[presentation.search_result_record(result) for result in found.results],
        total=found.total,
    )


@bp.post("/search")
def search_post() -> Response:
    return _search(json_body())


@bp.get("/search")
def search_get() -> Response:
    return _search(parsing.query_string_data(request.args, LIST_PARAMETERS))


@bp.get("/profiles/<id:profile_id>/recommendations")
def recommendations(profile_id: int) -> Response:
    profile = _profile_or_404(profile_id)
    limit = parsing.integer(request.args.get("limit"), "limit", default=10, low=1, high=100)
    found = recommend(
        get_engine(),
        profile,
        limit,
        weights=current_weights(current_app.config),
        min_strength=current_app.config["RECOMMEND_MIN_STRENGTH"],
    )
    reader = g.api_user.profile.id if g.api_user.profile else None
    return jsonify(
        results=[presentation.recommendation_record(r, reader) for r in found],
        total=len(found),
    )


@bp.get("/profiles")
def profile_list() -> Response:
    data = parsing.query_string_data(request.args, LIST_PARAMETERS)
    filters = parsing.filters_from(data)
    text = data.get("query") or ""
    page = parsing.integer(data.get("page"), "page", default=1, low=1, high=1_000_000)
    per_page = parsing.integer(data.get("per_page"), "per_page", default=50, low=1, high=200)
    listing = profiles.browse_profiles(replace(filters, text=text), page, per_page)
    next_url = None
    if listing.has_next:
        args = request.args.to_dict(flat=False)
        args["page"] = [str(page + 1)]
        next_url = url_for("api.profile_list", _external=True, **args)
    return jsonify(
        profiles=[profile_json(p, full=False) for p in listing.items],
        total=listing.total,
        page=page,
        per_page=per_page,
        next=next_url,
    )


@bp.get("/profiles/<id:profile_id>")
def profile_detail(profile_id: int) -> Response:
    return jsonify(profile_json(_profile_or_404(profile_id)))


def _profile_or_404(profile_id: int) -> Profile:
    profile = db.session.get(Profile, profile_id)
    if profile is None or profile.is_deleted:  # a deleted profile is restored on the site
        raise ApiError(404, f"There is no profile {profile_id}.")
    return profile


def _editable(profile_id: int) -> Profile:
    profile = _profile_or_404(profile_id)
    if not profiles.can_edit_profile(g.api_user, profile):
        raise ApiError(403, "This token's account may not change this profile.")
    return profile


def _service_call(action: Any) -> Any:
    """Run a service; a domain ValidationError becomes a 422 naming the field."""
    try:
        return action()
    except ValidationError as error:
        db.session.rollback()
        raise ApiError(422, error.message, schema.dotted(error.field)) from None


@bp.post("/profiles")
def profile_create() -> tuple[Response, int]:
    """An SME or expert creates their own profile; staff create unowned (imported) ones."""
    data = json_body()
    user = g.api_user
    if user.is_staff:
        kind = data.get("kind")
        owner = None
    else:
        kind = (
            profiles.profile_kind_for(user).value if user.role in (Role.SME, Role.EXPERT) else None
        )
        owner = user
        if "external_id" in data:
            raise ApiError(422, "Only coordinators set external ids.", "external_id")
    if kind not in ("sme", "expert"):
        raise ApiError(422, "Give the kind of profile: sme or expert.", "kind")
    blank = ProfileInput(name="", economy="")
    changes = parsing.profile_changes(
        {k: v for k, v in data.items() if k not in ("kind", "external_id")}, blank
    )
    external_id = data.get("external_id")
    if external_id is not None and not isinstance(external_id, str):
        raise ApiError(422, "Give the external id as text.", "external_id")
    profile = _service_call(
        lambda: profiles.create_profile(kind, changes, owner=owner, external_id=external_id or None)
    )
    db.session.commit()
    return jsonify(profile_json(profile)), 201


@bp.patch("/profiles/<id:profile_id>")
def profile_update(profile_id: int) -> Response:
    profile = _editable(profile_id)
    data = json_body()
    if "kind" in data or "external_id" in data:
        field = "kind" if "kind" in data else "external_id"
        raise ApiError(422, "This field cannot change.", field)
    changes = parsing.profile_changes(data, profiles.profile_input_for(profile))
    _service_call(lambda: profiles.update_profile(profile, changes))
    db.session.commit()
    return jsonify(profile_json(profile))


@bp.delete("/profiles/<id:profile_id>")
def profile_delete(profile_id: int) -> tuple[str, int]:
    profiles.delete_profile(_editable(profile_id))
    db.session.commit()
    return "", 204


def _evidence_json(item: EvidenceItem) -> dict[str, Any]:
    return {"id": item.id, **schema.evidence_record(item)}


def _evidence_of(profile: Profile, item_id: int) -> EvidenceItem:
    item = db.session.get(EvidenceItem, item_id)
    if item is None or item.profile_id != profile.id:
        raise ApiError(404, f"Profile {profile.id} has no evidence item {item_id}.")
    return item


@bp.get("/profiles/<id:profile_id>/evidence")
def evidence_list(profile_id: int) -> Response:
    return jsonify(evidence=[_evidence_json(item) for item in _profile_or_404(profile_id).evidence])


@bp.post("/profiles/<id:profile_id>/evidence")
def evidence_add(profile_id: int) -> tuple[Response, int]:
    profile = _editable(profile_id)
    item = _service_call(
        lambda: profiles.add_evidence(profile, parsing.evidence_input(json_body()))
    )
    db.session.commit()
    return jsonify(_evidence_json(item)), 201


@bp.patch("/profiles/<id:profile_id>/evidence/<id:item_id>")
def evidence_update(profile_id: int, item_id: int) -> Response:
    profile = _editable(profile_id)
    item = _evidence_of(profile, item_id)
    current = EvidenceInput(**schema.evidence_record(item))
    changes = parsing.evidence_input(json_body(), current)
    _service_call(lambda: profiles.update_evidence(item, changes))
    db.session.commit()
    return jsonify(_evidence_json(item))


@bp.delete("/profiles/<id:profile_id>/evidence/<id:item_id>")
def evidence_delete(profile_id: int, item_id: int) -> tuple[str, int]:
    profile = _editable(profile_id)
    profiles.remove_evidence(_evidence_of(profile, item_id))
    db.session.commit()
    return "", 204


@bp.get("/shortlist")
def shortlist_list() -> Response:
    return jsonify(
        entries=[shortlists.entry_record(entry) for entry in shortlists.entries(g.api_user)]
    )


@bp.post("/shortlist")
def shortlist_add() -> tuple[Response, int]:
    data = json_body()
    try:
        profile_id = parse_id(data.get("profile_id"), "profile_id")
    except ValidationError as error:
        raise ApiError(422, error.message, error.field) from None
    entry = _service_call(lambda: shortlists.add(g.api_user, _profile_or_404(profile_id)))
    db.session.commit()
    return jsonify(shortlists.entry_record(entry)), 201


@bp.delete("/shortlist/<id:profile_id>")
def shortlist_remove(profile_id: int) -> tuple[str, int]:
    if not shortlists.remove(g.api_user, profile_id):
        raise ApiError(404, f"Profile {profile_id} is not on this account's shortlist.")
    db.session.commit()
    return "", 204


@bp.get("/reference")
def reference_data() -> Response:
    return jsonify(
        economies=[{"code": e.code, "name": e.name, "apec": e.apec} for e in reference.economies()],
        sectors=[
            {"code": t.code, "label": t.label, "description": t.description}
            for t in reference.SECTORS
        ],
        value_chain=[
            {
                "code": t.code,
                "label": t.label,
                "description": t.description,
                "in_chain": t.code in reference.CHAIN_POSITIONS,
            }
            for t in reference.VALUE_CHAIN
        ],
    )


register_event_routes(bp, json_body)
register_match_routes(bp, json_body)


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


def json_error_for_api(error: HTTPException) -> tuple[Response, int] | None:
    """For the app's error handlers: answer errors under /api in JSON, never an HTML page."""
    if request.path.startswith("/api/"):
        return http_error_response(error)
    return None
