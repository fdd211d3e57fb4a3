"""The matches part of JSON API v1: the thread between the two parties of an introduction.

Registered on the API blueprint (see the end of api/views.py); messages are in English. The
same rules as the match page: the parties read and write once both accepted, staff read.
Reading through the API does not mark messages read: the unread count is of what the person
opened on the site.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request, url_for
from werkzeug.wrappers import Response

from partnermatch.api import parsing
from partnermatch.api.errors import ApiError
from partnermatch.extensions import db
from partnermatch.review import services
from partnermatch.review.models import Match, MatchMessage


def message_json(match: Match, message: MatchMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "side": message.side,
        "from": services.party(match, message.side).name,
        "body": message.body,
        "created_at": message.created_at.isoformat(),
    }


def _readable_match(match_id: int) -> Match:
    match = db.session.get(Match, match_id)
    if match is None or not services.can_view(match, g.api_user):
        raise ApiError(404, f"There is no match {match_id}.")
    if not services.can_read_messages(match, g.api_user):
        raise ApiError(
            403, "The thread of a match opens once both parties have accepted the introduction."
        )
    return match


def register_routes(bp, json_body) -> None:
    """Add the match thread endpoints to the API blueprint."""

    @bp.get("/matches/<id:match_id>/messages")
    def match_messages(match_id: int) -> Response:
        match = _readable_match(match_id)
        page = parsing.integer(request.args.get("page"), "page", default=1, low=1, high=1_000_000)
        thread = services.messages_page(match, page)
        next_url = (
            url_for("api.match_messages", match_id=match.id, page=page + 1, _external=True)
            if thread.has_next
            else None
        )
        return jsonify(
            messages=[message_json(match, message) for message in thread.items],
            total=thread.total,
            page=page,
            per_page=thread.per_page,
            next=next_url,
        )

    @bp.post("/matches/<id:match_id>/messages")
    def match_message_post(match_id: int) -> tuple[Response, int]:
        match = _readable_match(match_id)
        if not services.can_post_message(match, g.api_user):
            raise ApiError(403, "Only the two parties write in a match's thread.")
        body = json_body().get("body")
        if not isinstance(body, str):
            raise ApiError(422, "Give the message as text.", "body")
        try:
            message = services.post_message(match, g.api_user, body)
        except services.TransitionError as error:
            db.session.rollback()
            raise ApiError(422, error.message, "body") from None
        db.session.commit()
        return jsonify(message_json(match, message)), 201
