"""The events API: events, participants, agendas, requests to meet, answers, marketplace."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from partnermatch.api import events as api_events
from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.events.models import (
    MAX_ITEM,
    MAX_ITEMS,
    MarketplaceItem,
    MeetingRequest,
    RequestState,
)
from partnermatch.extensions import db
from tests.engine_fakes import HashingEmbedder
from tests.factories import make_user
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


# --- the marketplace -------------------------------------------------------------------------


@pytest.fixture
def stall(db):
    """An event with a foundry and a lab registered, and a member who is not."""
    event = make_event()
    sme_user, sme = registered(event, name="Hanoi Castings")
    lab_user, lab = registered(event, "expert", name="Osaka Materials Lab")
    outsider, _profile = member()
    return SimpleNamespace(
        event=event,
        sme_user=sme_user,
        sme=sme,
        lab_user=lab_user,
        lab=lab,
        outsider=outsider,
        url=f"/api/v1/events/{event.id}/marketplace",
    )


def test_participants_post_items_that_everyone_lists_and_filters(client, stall):
    posted = client.post(
        stall.url,
        headers=bearer(stall.lab_user),
        json={"kind": "offer", "text": "Fatigue testing of aluminium castings"},
    )
    client.post(
        stall.url,
        headers=bearer(stall.sme_user),
        json={"kind": "seek", "text": "A lab for fatigue testing"},
    )
    client.post(
        stall.url, headers=bearer(stall.sme_user), json={"kind": "offer", "text": "Die casting"}
    )
    everything = client.get(stall.url, headers=bearer(stall.outsider)).get_json()
    fatigue = client.get(f"{stall.url}?q=fatigue", headers=bearer(stall.outsider)).get_json()
    offers = client.get(f"{stall.url}?q=fatigue&kind=offer", headers=bearer(stall.outsider))
    by_name = client.get(f"{stall.url}?q=osaka", headers=bearer(stall.outsider)).get_json()
    paged = client.get(f"{stall.url}?per_page=2", headers=bearer(stall.outsider)).get_json()

    assert posted.status_code == 201
    assert posted.get_json() | {"created_at": None} == {
        "id": posted.get_json()["id"],
        "participant_id": stall.lab.id,
        "profile_id": stall.lab.profile_id,
        "name": "Osaka Materials Lab",
        "kind": "offer",
        "text": "Fatigue testing of aluminium castings",
        "created_at": None,
    }
    assert [i["text"] for i in everything["items"]] == [
        "Die casting",
        "A lab for fatigue testing",
        "Fatigue testing of aluminium castings",
    ]
    assert everything["total"] == 3 and everything["open"] is True
    assert {i["text"] for i in fatigue["items"]} == {
        "A lab for fatigue testing",
        "Fatigue testing of aluminium castings",
    }
    assert [i["name"] for i in offers.get_json()["items"]] == ["Osaka Materials Lab"]
    assert [i["name"] for i in by_name["items"]] == ["Osaka Materials Lab"]
    assert len(paged["items"]) == 2 and f"/events/{stall.event.id}/marketplace" in paged["next"]
    assert "page=2" in paged["next"]


def test_only_registered_participants_post(client, stall):
    refused = client.post(
        stall.url, headers=bearer(stall.outsider), json={"kind": "offer", "text": "Anything"}
    )

    assert refused.status_code == 403
    assert db.session.scalar(db.select(db.func.count(MarketplaceItem.id))) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "Die casting"}, "kind"),
        ({"kind": "sell", "text": "Die casting"}, "kind"),
        ({"kind": "offer"}, "text"),
        ({"kind": "offer", "text": 42}, "text"),
        ({"kind": "offer", "text": "   "}, "text"),
        ({"kind": "offer", "text": "x" * (MAX_ITEM + 1)}, "text"),
        ({"kind": "offer", "text": "Die casting", "price": 3}, "price"),
    ],
)
def test_a_bad_item_is_refused_naming_the_field(client, stall, body, field):
    response = client.post(stall.url, headers=bearer(stall.sme_user), json=body)

    assert response.status_code == 422 and response.get_json()["error"]["field"] == field
    assert db.session.scalar(db.select(db.func.count(MarketplaceItem.id))) == 0


@pytest.mark.parametrize(
    ("query", "field"), [("kind=sell", "kind"), ("page=0", "page"), ("q=" + "x" * 201, "q")]
)
def test_a_bad_filter_is_refused_naming_it(client, stall, query, field):
    response = client.get(f"{stall.url}?{query}", headers=bearer(stall.sme_user))

    assert response.status_code == 422 and response.get_json()["error"]["field"] == field


def test_a_participant_posts_no_more_than_the_most_items(client, stall):
    headers = bearer(stall.sme_user)
    for number in range(MAX_ITEMS):
        client.post(stall.url, headers=headers, json={"kind": "offer", "text": f"Item {number}"})

    refused = client.post(stall.url, headers=headers, json={"kind": "offer", "text": "One more"})

    assert (
        refused.status_code == 422 and "remove one first" in refused.get_json()["error"]["message"]
    )
    assert db.session.scalar(db.select(db.func.count(MarketplaceItem.id))) == MAX_ITEMS


def test_the_owner_or_a_coordinator_deletes_an_item_and_nobody_else(client, stall):
    first = client.post(
        stall.url, headers=bearer(stall.lab_user), json={"kind": "offer", "text": "Testing"}
    ).get_json()
    second = client.post(
        stall.url, headers=bearer(stall.lab_user), json={"kind": "offer", "text": "Analysis"}
    ).get_json()
    other_event = make_event(name="Da Nang Forum")

    by_other = client.delete(f"{stall.url}/{first['id']}", headers=bearer(stall.sme_user))
    wrong_event = client.delete(
        f"/api/v1/events/{other_event.id}/marketplace/{first['id']}", headers=bearer(stall.lab_user)
    )
    by_owner = client.delete(f"{stall.url}/{first['id']}", headers=bearer(stall.lab_user))
    again = client.delete(f"{stall.url}/{first['id']}", headers=bearer(stall.lab_user))
    by_coordinator = client.delete(
        f"{stall.url}/{second['id']}", headers=bearer(make_user(Role.COORDINATOR))
    )

    assert (by_other.status_code, wrong_event.status_code) == (403, 404)
    assert (by_owner.status_code, again.status_code, by_coordinator.status_code) == (204, 404, 204)
    assert db.session.scalar(db.select(db.func.count(MarketplaceItem.id))) == 0


def test_posting_closes_when_the_event_is_over(client, stall):
    day = stall.event.sessions[0].day
    for session in stall.event.sessions:
        session.day = day - timedelta(days=400)
    db.session.commit()

    refused = client.post(
        stall.url, headers=bearer(stall.sme_user), json={"kind": "offer", "text": "Die casting"}
    )

    assert refused.status_code == 422 and "over" in refused.get_json()["error"]["message"]
    assert client.get(stall.url, headers=bearer(stall.sme_user)).get_json()["open"] is False


def test_a_participant_reads_its_items_matched_with_the_other_kind(client, stall, monkeypatch):
    monkeypatch.setattr(
        api_events, "get_engine", lambda: SimpleNamespace(embedder=HashingEmbedder())
    )
    client.post(
        stall.url,
        headers=bearer(stall.sme_user),
        json={"kind": "seek", "text": "fatigue testing of castings"},
    )
    for kind, text in [("offer", "fatigue testing of castings"), ("seek", "fatigue testing")]:
        client.post(stall.url, headers=bearer(stall.lab_user), json={"kind": kind, "text": text})

    found = client.get(f"{stall.url}/matches", headers=bearer(stall.sme_user)).get_json()
    outsider = client.get(f"{stall.url}/matches", headers=bearer(stall.outsider))

    [match] = found["matches"]
    assert match["item"]["text"] == "fatigue testing of castings"
    assert [(c["name"], c["kind"]) for c in match["counterparts"]] == [
        ("Osaka Materials Lab", "offer")
    ]
    assert match["counterparts"][0]["score"] == pytest.approx(1.0)
    assert outsider.status_code == 403


def test_matching_unavailable_is_a_503_not_an_error_page(client, stall, monkeypatch):
    def no_model():
        raise OSError("no model offline")

    monkeypatch.setattr(api_events, "get_engine", no_model)
    client.post(stall.url, headers=bearer(stall.sme_user), json={"kind": "seek", "text": "Testing"})

    response = client.get(f"{stall.url}/matches", headers=bearer(stall.sme_user))

    assert response.status_code == 503 and response.get_json()["error"]["code"] == "unavailable"
