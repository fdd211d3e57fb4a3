"""The events API: events, participants, agendas, requests to meet, answers."""

from __future__ import annotations

import pytest

from partnermatch.auth.tokens import create_token
from partnermatch.events.models import MeetingRequest, RequestState
from partnermatch.extensions import db
from tests.test_event_participation import make_event, member, registered

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def bearer(user) -> dict[str, str]:
    _token, secret = create_token(user, "events")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_a_participant_asks_another_to_meet_and_the_other_accepts(client):
    event = make_event()
    sme_user, sme = registered(event, name="Kaohsiung Castings")
    lab_user, lab = registered(event, "expert", name="Tainan Lab")

    listed = client.get("/api/v1/events", headers=bearer(sme_user)).get_json()
    people = client.get(
        f"/api/v1/events/{event.id}/participants", headers=bearer(sme_user)
    ).get_json()
    created = client.post(
        f"/api/v1/events/{event.id}/requests",
        headers=bearer(sme_user),
        json={"to_participant_id": lab.id, "reason": "Casting know-how."},
    )
    answered = client.post(
        f"/api/v1/events/{event.id}/requests/{created.get_json()['id']}/accept",
        headers=bearer(lab_user),
    )

    assert [e["name"] for e in listed["upcoming"]] == ["Kaohsiung Forum"]
    assert listed["upcoming"][0]["requests"] == "open"
    assert {p["name"] for p in people["participants"]} == {"Kaohsiung Castings", "Tainan Lab"}
    assert created.status_code == 201 and created.get_json()["state"] == "requested"
    assert answered.status_code == 200 and answered.get_json()["state"] == "accepted"
    assert db.session.scalars(db.select(MeetingRequest)).one().state is RequestState.ACCEPTED
    assert sme.id != lab.id


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"reason": "Hello."}, "to_participant_id", "Give the id of the participant to meet."),
        ({"to_participant_id": "self", "reason": "Hello."}, "to_participant_id", None),
        ({"to_participant_id": "lab"}, "reason", "Give a short reason for the meeting."),
        ({"to_participant_id": "lab", "reason": "  "}, "reason", None),
    ],
)
def test_bad_requests_are_refused_naming_the_field(client, body, field, message):
    event = make_event()
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert")
    ids = {"self": sme.id, "lab": lab.id}
    if "to_participant_id" in body:
        body = {**body, "to_participant_id": ids[body["to_participant_id"]]}

    response = client.post(
        f"/api/v1/events/{event.id}/requests", headers=bearer(sme_user), json=body
    )

    error = response.get_json()["error"]
    assert response.status_code == 422 and error["field"] == field
    if message:
        assert error["message"] == message


def test_someone_not_registered_cannot_ask_and_nobody_answers_for_others(client):
    event = make_event()
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert")
    outsider, _profile = member()

    refused = client.post(
        f"/api/v1/events/{event.id}/requests",
        headers=bearer(outsider),
        json={"to_participant_id": lab.id, "reason": "Hello."},
    )
    created = client.post(
        f"/api/v1/events/{event.id}/requests",
        headers=bearer(sme_user),
        json={"to_participant_id": lab.id, "reason": "Hello."},
    ).get_json()
    stolen = client.post(
        f"/api/v1/events/{event.id}/requests/{created['id']}/accept", headers=bearer(outsider)
    )
    agenda = client.get(
        f"/api/v1/events/{event.id}/participants/{sme.id}/agenda", headers=bearer(outsider)
    )

    assert refused.status_code == 403
    assert stolen.status_code == 404
    assert agenda.status_code == 403
