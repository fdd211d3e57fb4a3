"""The events part of JSON API v1: events, participants, agendas, requests to meet,
feedback after meetings, and the marketplace of offers and needs.

Registered on the API blueprint (see the end of api/views.py); messages are in English.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request, url_for
from werkzeug.wrappers import Response

from partnermatch.api import parsing
from partnermatch.api.errors import ApiError
from partnermatch.errors import ValidationError
from partnermatch.events import agenda, participation, services
from partnermatch.events import feedback as meeting_feedback
from partnermatch.events import marketplace as event_marketplace
from partnermatch.events.models import (
    Event,
    ItemKind,
    MarketplaceItem,
    Meeting,
    MeetingFeedback,
    MeetingRequest,
    NextStep,
    Participant,
    Usefulness,
)
from partnermatch.extensions import db
from partnermatch.inputs import parse_id
from partnermatch.matching.extension import get_engine

# Which request field a refusal is about: the target (whom to meet) or the reason.
TARGET_REFUSALS = {
    "%(name)s is not registered for this event.",
    "You cannot ask to meet yourself.",
    "At this event, SMEs meet experts only.",
    "You have already asked to meet %(name)s.",
    "%(name)s has already asked to meet you: answer it under My meetings.",
    "One of you marked the other “no thanks”: %(name)s cannot be asked.",
}
REASON_REFUSALS = {
    "The reason holds a character that cannot be read.",
    "Give a short reason for the meeting.",
    "Keep the reason under %(count)s characters.",
}


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise ApiError(404, f"There is no event {event_id}.")
    return event


def _participant_or_404(event: Event, participant_id: int) -> Participant:
    participant = db.session.get(Participant, participant_id)
    if participant is None or participant.event_id != event.id:
        raise ApiError(404, f"There is no participant {participant_id} at this event.")
    return participant


def _refusal(error: participation.EventError) -> ApiError:
    field = (
        "to_participant_id"
        if error.message in TARGET_REFUSALS
        else "reason"
        if error.message in REASON_REFUSALS
        else None
    )
    return ApiError(422, str(error), field)


def _iso(instant) -> str | None:
    local = services.to_local(instant, "UTC")
    return local.isoformat() if local else None


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "venue": event.venue,
        "timezone": event.timezone,
        "meeting_minutes": event.meeting_minutes,
        "tables": event.tables,
        "pairing": event.pairing.value,
        "review_requests": event.review_requests,
        "agenda": event.agenda.value,
        "sessions": [
            {"day": s.day.isoformat(), "start": f"{s.start:%H:%M}", "end": f"{s.end:%H:%M}"}
            for s in event.sessions
        ],
        "registration": participation.registration_is(event),
        "requests": participation.requests_are(event),
        "registration_opens": _iso(event.registration_opens),
        "registration_closes": _iso(event.registration_closes),
        "requests_open": _iso(event.requests_open),
        "requests_close": _iso(event.requests_close),
    }


def request_json(meeting_request: MeetingRequest) -> dict[str, Any]:
    return {
        "id": meeting_request.id,
        "from_participant_id": meeting_request.from_participant_id,
        "to_participant_id": meeting_request.to_participant_id,
        "reason": meeting_request.reason,
        "state": meeting_request.state.value,
        "stage": participation.request_stage(meeting_request),
        "third_participant_id": meeting_request.third_participant_id,
    }


def feedback_json(row: MeetingFeedback) -> dict[str, Any]:
    return {
        "participant_id": row.participant_id,
        "useful": row.useful.value,
        "next_step": row.next_step.value,
        "note": row.note,
        "updated_at": _iso(row.updated_at),
    }


# Which request field a feedback refusal is about.
FEEDBACK_REFUSALS = {
    "Answer both questions with one of the choices offered.": "useful",
    "The note holds a character that cannot be read.": "note",
    "Keep the note under %(count)s characters.": "note",
}


# Which body field a marketplace refusal is about.
ITEM_REFUSALS = {
    "Say whether you offer or seek, in readable text.": "text",
    "Write what you offer or seek.": "text",
    "Keep an item under %(count)s characters.": "text",
}
ITEM_KINDS = ", ".join(kind.value for kind in ItemKind)
MAX_FILTER = 200  # characters of the list's text filter, as the page's filter form


def item_json(item: MarketplaceItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "participant_id": item.participant_id,
        "profile_id": item.participant.profile_id,
        "name": item.participant.profile.name,
        "kind": item.kind.value,
        "text": item.text,
        "created_at": _iso(item.created_at),
    }


def _item_kind(value: Any, field: str) -> ItemKind:
    if not isinstance(value, str) or value not in {kind.value for kind in ItemKind}:
        raise ApiError(422, f"{field} is one of: {ITEM_KINDS}.", field)
    return ItemKind(value)


def register_routes(bp, json_body) -> None:
    """Add the events endpoints to the API blueprint."""

    @bp.get("/events")
    def event_list() -> Response:
        upcoming, past = services.upcoming_and_past()
        return jsonify(
            {
                "upcoming": [event_json(e) for e in upcoming],
                "past": [event_json(e) for e in past],
            }
        )

    @bp.get("/events/<id:event_id>/participants")
    def event_participants(event_id: int) -> Response:
        event = _event_or_404(event_id)
        rows = db.session.scalars(
            db.select(Participant).where(Participant.event_id == event.id).order_by(Participant.id)
        )
        return jsonify(
            {
                "participants": [
                    {
                        "id": p.id,
                        "profile_id": p.profile_id,
                        "name": p.profile.name,
                        "kind": p.profile.kind.value,
                        "economy": p.profile.economy,
                        "session_ids": [s.id for s in p.sessions],
                        "meeting_cap": p.meeting_cap,
                    }
                    for p in rows
                ]
            }
        )

    @bp.get("/events/<id:event_id>/participants/<id:participant_id>/agenda")
    def event_agenda(event_id: int, participant_id: int) -> Response:
        event = _event_or_404(event_id)
        participant = _participant_or_404(event, participant_id)
        if not participation.may_act_for(g.api_user, participant.profile):
            raise ApiError(403, "This token's account may not read this agenda.")
        items = agenda.agenda_of(participant, with_proposed=g.api_user.is_staff)
        return jsonify(
            {
                "timezone": event.timezone,
                "meetings": [
                    {
                        "meeting_id": item.meeting.id,
                        "start": item.start.isoformat(),
                        "end": item.end.isoformat(),
                        "table": item.table,
                        "partner_participant_id": item.partner.id,
                        "partner_name": item.partner.profile.name,
                        "parties": [
                            {"participant_id": other.id, "name": other.profile.name}
                            for other in item.others
                        ],
                        "reason": item.reason,
                        "state": item.meeting.state.value,
                        "no_show": item.meeting.no_show,
                    }
                    for item in items
                ],
            }
        )

    @bp.post("/events/<id:event_id>/requests")
    def event_request_create(event_id: int) -> tuple[Response, int]:
        event = _event_or_404(event_id)
        data = json_body()
        raw_target = data.get("to_participant_id")
        try:
            target_id = parse_id(raw_target, "to_participant_id")
        except ValidationError:
            raise ApiError(
                422, "Give the id of the participant to meet.", "to_participant_id"
            ) from None
        reason = data.get("reason")
        if not isinstance(reason, str):
            raise ApiError(422, "Give a short reason for the meeting.", "reason")
        sender = participation.participant_of(event, g.api_user.profile)
        if sender is None:
            raise ApiError(403, "Register for this event before asking to meet anyone.")
        recipient = db.session.get(Participant, target_id)
        if recipient is None:
            raise ApiError(422, f"There is no participant {target_id}.", "to_participant_id")
        try:
            created = participation.ask_to_meet(sender, recipient, reason, g.api_user)
        except participation.EventError as error:
            db.session.rollback()
            raise _refusal(error) from None
        db.session.commit()
        return jsonify(request_json(created)), 201

    def _answer(event_id: int, request_id: int, accept: bool) -> Response:
        event = _event_or_404(event_id)
        meeting_request = db.session.get(MeetingRequest, request_id)
        if (
            meeting_request is None
            or meeting_request.event_id != event.id
            or not participation.answers_for(g.api_user, meeting_request.recipient.profile)
        ):
            raise ApiError(404, f"There is no request {request_id} for you to answer.")
        try:
            participation.answer(meeting_request, g.api_user, accept)
        except participation.EventError as error:
            db.session.rollback()
            raise ApiError(422, str(error)) from None
        db.session.commit()
        return jsonify(request_json(meeting_request))

    @bp.post("/events/<id:event_id>/requests/<id:request_id>/accept")
    def event_request_accept(event_id: int, request_id: int) -> Response:
        return _answer(event_id, request_id, True)

    @bp.post("/events/<id:event_id>/requests/<id:request_id>/decline")
    def event_request_decline(event_id: int, request_id: int) -> Response:
        return _answer(event_id, request_id, False)

    def _meeting_or_404(event_id: int, meeting_id: int) -> tuple[Event, Meeting]:
        event = _event_or_404(event_id)
        meeting = db.session.get(Meeting, meeting_id)
        if meeting is None or meeting.event_id != event.id:
            raise ApiError(404, f"There is no meeting {meeting_id} at this event.")
        return event, meeting

    def _own_parties(meeting: Meeting) -> list[Participant]:
        """The meeting's parties the token's account answers for."""
        return [
            party
            for party in meeting.parties
            if participation.answers_for(g.api_user, party.profile)
        ]

    @bp.get("/events/<id:event_id>/meetings/<id:meeting_id>/feedback")
    def meeting_feedback_get(event_id: int, meeting_id: int) -> Response:
        _event, meeting = _meeting_or_404(event_id, meeting_id)
        own = {party.id for party in _own_parties(meeting)}
        if not (own or g.api_user.is_staff):
            raise ApiError(404, f"There is no meeting {meeting_id} of yours at this event.")
        answers = meeting_feedback.feedback_of(meeting)
        shown = answers if g.api_user.is_staff else {k: v for k, v in answers.items() if k in own}
        return jsonify(
            {
                "meeting_id": meeting.id,
                "feedback": [feedback_json(row) for _pid, row in sorted(shown.items())],
            }
        )

    @bp.post("/events/<id:event_id>/meetings/<id:meeting_id>/feedback")
    def meeting_feedback_post(event_id: int, meeting_id: int) -> tuple[Response, int]:
        _event, meeting = _meeting_or_404(event_id, meeting_id)
        data = json_body()
        own = _own_parties(meeting)
        if "participant_id" in data:
            try:
                wanted = parse_id(data["participant_id"], "participant_id")
            except ValidationError:
                raise ApiError(422, "Give a participant id.", "participant_id") from None
            own = [party for party in own if party.id == wanted]
        if not own:
            raise ApiError(404, f"There is no meeting {meeting_id} of yours at this event.")
        if len(own) > 1:
            raise ApiError(422, "Say which party answers: participant_id.", "participant_id")
        for field, choices in (("useful", Usefulness), ("next_step", NextStep)):
            value = data.get(field)
            if not isinstance(value, str) or value not in {choice.value for choice in choices}:
                raise ApiError(
                    422, f"{field} is one of: {', '.join(c.value for c in choices)}.", field
                )
        existed = own[0].id in meeting_feedback.feedback_of(meeting)
        try:
            row = meeting_feedback.give_feedback(
                meeting, own[0], data["useful"], data["next_step"], data.get("note"), g.api_user
            )
        except participation.EventError as error:
            db.session.rollback()
            raise ApiError(422, str(error), FEEDBACK_REFUSALS.get(error.message)) from None
        db.session.commit()
        return jsonify(feedback_json(row)), 200 if existed else 201

    # --- meetings of three -------------------------------------------------------------------

    def _third_of(event: Event) -> Participant:
        """The participant a coordinator's body names as the third party."""
        if not g.api_user.is_staff:
            raise ApiError(403, "Only a coordinator's token adds a third party.")
        data = json_body()
        try:
            third_id = parse_id(data.get("participant_id"), "participant_id")
        except ValidationError:
            raise ApiError(422, "Give the id of the third participant.", "participant_id") from None
        third = db.session.get(Participant, third_id)
        if third is None or third.event_id != event.id:
            raise ApiError(
                422, f"There is no participant {third_id} at this event.", "participant_id"
            )
        return third

    def _third_refusal(error: participation.EventError) -> ApiError:
        db.session.rollback()
        field = "participant_id" if "%(name)s" in error.message else None
        return ApiError(422, str(error), field)

    @bp.post("/events/<id:event_id>/requests/<id:request_id>/third")
    def event_request_third(event_id: int, request_id: int) -> Response:
        event = _event_or_404(event_id)
        meeting_request = db.session.get(MeetingRequest, request_id)
        if meeting_request is None or meeting_request.event_id != event.id:
            raise ApiError(404, f"There is no request {request_id} at this event.")
        third = _third_of(event)
        try:
            participation.add_third_to_request(meeting_request, third, g.api_user)
        except participation.EventError as error:
            raise _third_refusal(error) from None
        db.session.commit()
        return jsonify(request_json(meeting_request))

    @bp.post("/events/<id:event_id>/meetings/<id:meeting_id>/third")
    def meeting_third(event_id: int, meeting_id: int) -> Response:
        event, meeting = _meeting_or_404(event_id, meeting_id)
        third = _third_of(event)
        try:
            agenda.add_third(meeting, third, g.api_user)
        except participation.EventError as error:
            raise _third_refusal(error) from None
        db.session.commit()
        return jsonify(
            {
                "meeting_id": meeting.id,
                "participant_ids": [party.id for party in meeting.parties],
                "state": meeting.state.value,
            }
        )

    # --- the marketplace ---------------------------------------------------------------------

    @bp.get("/events/<id:event_id>/marketplace")
    def marketplace_list(event_id: int) -> Response:
        """The event's items, newest first, filtered by words (`q`) and `kind`, in pages."""
        event = _event_or_404(event_id)
        text = request.args.get("q", "")
        if len(text) > MAX_FILTER:
            raise ApiError(422, f"Keep q under {MAX_FILTER} characters.", "q")
        kind = _item_kind(request.args["kind"], "kind") if request.args.get("kind") else None
        page = parsing.integer(request.args.get("page"), "page", default=1, low=1, high=1_000_000)
        per_page = parsing.integer(
            request.args.get("per_page"), "per_page", default=50, low=1, high=200
        )
        listing = event_marketplace.find_items(event, text.strip(), kind, page, per_page)
        next_url = None
        if listing.has_next:
            args = request.args.to_dict()
            args["page"] = str(page + 1)
            next_url = url_for("api.marketplace_list", event_id=event.id, _external=True, **args)
        return jsonify(
            items=[item_json(item) for item in listing.items],
            total=listing.total,
            page=page,
            per_page=per_page,
            next=next_url,
            open=event_marketplace.is_open(event),
        )

    @bp.post("/events/<id:event_id>/marketplace")
    def marketplace_post(event_id: int) -> tuple[Response, int]:
        """A registered participant posts an item of its own."""
        event = _event_or_404(event_id)
        data = json_body()
        parsing.check_fields(data, ("kind", "text"))
        kind = _item_kind(data.get("kind"), "kind")
        text = data.get("text")
        if not isinstance(text, str):
            raise ApiError(422, "Write what you offer or seek.", "text")
        own = participation.participant_of(event, g.api_user.profile)
        if own is None:
            raise ApiError(403, "Register for this event before posting to its marketplace.")
        try:
            item = event_marketplace.post_item(own, kind, text, g.api_user)
        except participation.EventError as error:
            db.session.rollback()
            raise ApiError(422, str(error), ITEM_REFUSALS.get(error.message)) from None
        db.session.commit()
        return jsonify(item_json(item)), 201

    @bp.delete("/events/<id:event_id>/marketplace/<id:market_item_id>")
    def marketplace_delete(event_id: int, market_item_id: int) -> tuple[str, int]:
        """Remove an item: its participant's owner, or a coordinator."""
        event = _event_or_404(event_id)
        item = db.session.get(MarketplaceItem, market_item_id)
        if item is None or item.event_id != event.id:
            raise ApiError(404, f"There is no item {market_item_id} at this event.")
        if not participation.may_act_for(g.api_user, item.participant.profile):
            raise ApiError(403, "This token's account may not remove this item.")
        event_marketplace.remove_item(item, g.api_user)
        db.session.commit()
        return "", 204

    @bp.get("/events/<id:event_id>/marketplace/matches")
    def marketplace_matches(event_id: int) -> Response:
        """The token's participant's items, each with the closest items of the other kind."""
        event = _event_or_404(event_id)
        own = participation.participant_of(event, g.api_user.profile)
        if own is None:
            raise ApiError(403, "Register for this event to have your items matched.")
        try:
            found = event_marketplace.counterparts(own, get_engine().embedder)
        except (OSError, RuntimeError) as error:  # the encoder cannot load (offline, no model)
            current_app.logger.warning("marketplace matching unavailable: %s", error)
            raise ApiError(503, "Matching is unavailable just now; the list still works.") from None
        return jsonify(
            matches=[
                {
                    "item": item_json(item),
                    "counterparts": [
                        {**item_json(other.item), "score": round(other.score, 4)}
                        for other in others
                    ],
                }
                for item, others in found
            ]
        )
