"""Taking part in an event: registering, asking to meet, answering, reviewing, marking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.events import participation, services
from partnermatch.events.models import (
    Event,
    MeetingRequest,
    Pairing,
    Participant,
    Preference,
    RequestState,
)
from partnermatch.events.participation import EventError
from partnermatch.extensions import db
from partnermatch.matching.extension import get_engine
from partnermatch.notifications.models import OutboxMessage
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

NOW = datetime.now(UTC)


def make_event(**fields) -> Event:
    """A forum a year from now, its registration and requests open since yesterday."""
    day = (NOW + timedelta(days=365)).date().isoformat()
    data = services.EventInput(
        name=fields.pop("name", "Kaohsiung Forum"),
        venue="",
        timezone="Asia/Taipei",
        meeting_minutes=20,
        tables=10,
        sessions=services.parse_sessions(f"{day} 09:00-12:00\n{day} 13:30-17:00"),
        pairing=fields.pop("pairing", Pairing.ANY),
        review_requests=fields.pop("review_requests", False),
    )
    event = services.save_event(data)
    event.registration_opens = fields.pop("registration_opens", NOW - timedelta(days=1))
    event.registration_closes = fields.pop("registration_closes", NOW + timedelta(days=30))
    event.requests_open = fields.pop("requests_open", NOW - timedelta(days=1))
    event.requests_close = fields.pop("requests_close", NOW + timedelta(days=30))
    db.session.commit()
    return event


def member(kind: str = "sme", **fields):
    user = make_user(Role.SME if kind == "sme" else Role.EXPERT)
    profile = make_profile(kind, owner=user, **fields)
    return user, profile


def registered(event: Event, kind: str = "sme", **fields):
    user, profile = member(kind, **fields)
    participant = participation.register(event, profile, event.sessions, None, user)
    db.session.commit()
    return user, participant


def outbox_to(email: str) -> list[str]:
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_email == email))
    return [row.subject for row in rows]


def page_text(response) -> str:
    return response.get_data(as_text=True)


# --- registration ----------------------------------------------------------------------------


def test_a_member_registers_their_profile_with_the_sessions_they_attend_and_a_cap(db, login_as):
    event = make_event()
    user, profile = member(name="Kaohsiung Castings")
    client = login_as(user)
    afternoon = event.sessions[1]

    response = client.post(
        f"/events/{event.id}/register",
        data={"sessions": [str(afternoon.id)], "meeting_cap": "6"},
    )

    assert response.status_code == 302
    participant = db.session.scalars(select(Participant)).one()
    assert participant.profile_id == profile.id and participant.meeting_cap == 6
    assert [s.id for s in participant.sessions] == [afternoon.id]
    page = page_text(client.get(f"/events/{event.id}"))
    assert "Kaohsiung Castings is registered." in page and "My meetings" in page


def test_registering_again_changes_the_registration(db, login_as):
    event = make_event()
    user, participant = registered(event)
    client = login_as(user)

    form = page_text(client.get(f"/events/{event.id}/register"))
    client.post(f"/events/{event.id}/register", data={"sessions": [str(event.sessions[0].id)]})

    assert "You are registered." in form
    db.session.expire_all()
    assert len(db.session.scalars(select(Participant)).all()) == 1
    assert [s.id for s in participant.sessions] == [event.sessions[0].id]


@pytest.mark.parametrize(
    ("opens", "closes", "message"),
    [
        (NOW + timedelta(days=2), None, "Registration for this event has not opened yet."),
        (None, NOW - timedelta(hours=1), "Registration for this event has closed."),
    ],
)
def test_a_member_cannot_register_outside_the_window(db, login_as, opens, closes, message):
    event = make_event(registration_opens=opens, registration_closes=closes)
    user, _profile = member()
    client = login_as(user)

    response = client.post(
        f"/events/{event.id}/register", data={"sessions": [str(event.sessions[0].id)]}
    )

    assert response.status_code == 200 and message in page_text(response)
    assert db.session.scalars(select(Participant)).all() == []
    assert message in page_text(client.get(f"/events/{event.id}"))


def test_registering_without_a_session_is_refused_on_the_field(db, login_as):
    event = make_event()
    user, _profile = member()

    response = login_as(user).post(f"/events/{event.id}/register", data={"meeting_cap": "3"})

    assert "Choose at least one session you will attend." in page_text(response)
    assert db.session.scalars(select(Participant)).all() == []


def test_a_coordinator_registers_a_profile_without_an_account_even_after_the_window(db, login_as):
    event = make_event(registration_closes=NOW - timedelta(hours=1))
    walk_in = make_profile("expert", name="Metal Industries Lab")
    client = login_as(make_user(Role.COORDINATOR))

    form = page_text(client.get(f"/events/{event.id}/register"))
    response = client.post(
        f"/events/{event.id}/register",
        data={"profile_id": str(walk_in.id), "sessions": [str(event.sessions[0].id)]},
    )

    assert "Metal Industries Lab" in form
    assert response.status_code == 302
    assert db.session.scalars(select(Participant.profile_id)).all() == [walk_in.id]


def test_nobody_registers_for_an_event_that_is_over(db):
    event = make_event()
    coordinator = make_user(Role.COORDINATOR)

    with pytest.raises(EventError, match=r"This event is over\."):
        participation.register(
            event, make_profile(), event.sessions, None, coordinator, now=NOW + timedelta(days=400)
        )


def test_unregistering_asks_for_confirmation_then_removes_the_requests_too(db, login_as):
    event = make_event()
    user, participant = registered(event, name="Leaving Co.")
    _other_user, other = registered(event, "expert")
    participation.ask_to_meet(participant, other, "Casting know-how.", user)
    db.session.commit()
    client = login_as(user)
    url = f"/events/{event.id}/participants/{participant.id}/unregister"

    confirmation = page_text(client.get(url))
    assert "Take Leaving Co. off Kaohsiung Forum?" in confirmation
    assert db.session.get(Participant, participant.id) is not None

    response = client.post(url)

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Participant, participant.id) is None
    assert db.session.scalars(select(MeetingRequest)).all() == []


def test_a_member_cannot_take_someone_else_off_the_event(db, login_as):
    event = make_event()
    _owner, participant = registered(event)
    intruder, _profile = member()

    response = login_as(intruder).post(
        f"/events/{event.id}/participants/{participant.id}/unregister"
    )

    assert response.status_code == 403
    assert db.session.get(Participant, participant.id) is not None


def test_the_own_profile_page_offers_the_open_events(db, login_as):
    event = make_event(name="Green Vehicles Forum")
    user, profile = member()

    page = page_text(login_as(user).get(f"/profiles/{profile.id}"))

    assert "Green Vehicles Forum" in page and f"/events/{event.id}/register" in page


# --- asking to meet --------------------------------------------------------------------------


def test_a_request_reaches_the_other_side_and_both_are_told_of_the_answer(db, login_as):
    event = make_event()
    sme_user, _sme = registered(event, name="Kaohsiung Castings")
    lab_user, lab = registered(event, "expert", name="Tainan Materials Lab")
    client = login_as(sme_user)

    response = client.post(
        f"/events/{event.id}/participants/{lab.id}/ask",
        data={"reason": "Topology optimisation of a motor housing."},
    )

    assert response.status_code == 302
    request = db.session.scalars(select(MeetingRequest)).one()
    assert request.state is RequestState.REQUESTED
    assert outbox_to(lab_user.email) == [
        "PartnerMatch: Kaohsiung Castings asks to meet Tainan Materials Lab at Kaohsiung Forum. "
        "Please accept or decline."
    ]
    client.post("/logout")
    client = login_as(lab_user)
    page = page_text(client.get(f"/events/{event.id}/meetings"))
    assert "Topology optimisation of a motor housing." in page and 'value="accept"' in page

    client.post(f"/events/{event.id}/requests/{request.id}/answer", data={"decision": "accept"})

    db.session.expire_all()
    assert request.state is RequestState.ACCEPTED
    told = (
        "PartnerMatch: Tainan Materials Lab accepted to meet Kaohsiung Castings at Kaohsiung Forum."
    )
    assert told in outbox_to(sme_user.email) and told in outbox_to(lab_user.email)


def test_a_decline_is_told_to_both_and_the_request_cannot_be_answered_again(db):
    event = make_event()
    sme_user, sme = registered(event)
    lab_user, lab = registered(event, "expert")
    request = participation.ask_to_meet(sme, lab, "Casting know-how.", sme_user)

    participation.answer(request, lab_user, accept=False)

    assert request.state is RequestState.DECLINED
    assert any("declined to meet" in subject for subject in outbox_to(sme_user.email))
    with pytest.raises(EventError, match="already been answered"):
        participation.answer(request, lab_user, accept=True)


def test_only_the_recipient_answers(db, login_as):
    event = make_event()
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert")
    request = participation.ask_to_meet(sme, lab, "Casting know-how.", sme_user)
    db.session.commit()

    with pytest.raises(EventError, match=r"Only .* can answer this request\."):
        participation.answer(request, sme_user, accept=True)
    response = login_as(sme_user).post(
        f"/events/{event.id}/requests/{request.id}/answer", data={"decision": "accept"}
    )
    assert response.status_code == 404


def refusal(event, sender, recipient, user, now=None):
    with pytest.raises(EventError) as raised:
        participation.ask_to_meet(sender, recipient, "A good reason.", user, now=now)
    return raised.value.message % raised.value.values


def test_requests_outside_the_request_window_are_refused(db):
    event = make_event(requests_open=NOW + timedelta(days=1))
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert")

    assert refusal(event, sme, lab, sme_user) == (
        "Meeting requests for this event have not opened yet."
    )
    event.requests_open, event.requests_close = None, NOW - timedelta(minutes=1)
    assert refusal(event, sme, lab, sme_user) == "Meeting requests for this event have closed."


def test_a_request_to_oneself_or_to_someone_of_another_event_is_refused(db):
    event = make_event()
    other_event = make_event(name="Another fair")
    sme_user, sme = registered(event)
    _elsewhere_user, elsewhere = registered(other_event, name="Elsewhere Ltd")

    assert refusal(event, sme, sme, sme_user) == "You cannot ask to meet yourself."
    assert refusal(event, sme, elsewhere, sme_user) == (
        "Elsewhere Ltd is not registered for this event."
    )


def test_a_member_not_registered_is_sent_to_register_first(db, login_as):
    event = make_event()
    _lab_user, lab = registered(event, "expert")
    outsider, _profile = member()

    response = login_as(outsider).post(
        f"/events/{event.id}/participants/{lab.id}/ask",
        data={"reason": "Hello."},
        follow_redirects=True,
    )

    assert "Register for this event before asking to meet anyone." in page_text(response)
    assert db.session.scalars(select(MeetingRequest)).all() == []


def test_a_second_request_between_the_same_two_is_refused_either_way(db):
    event = make_event()
    sme_user, sme = registered(event)
    lab_user, lab = registered(event, "expert", name="Tainan Lab")
    participation.ask_to_meet(sme, lab, "Casting know-how.", sme_user)

    assert refusal(event, sme, lab, sme_user) == "You have already asked to meet Tainan Lab."
    assert "has already asked to meet you" in refusal(event, lab, sme, lab_user)


def test_an_event_for_smes_and_experts_refuses_two_smes(db, login_as):
    event = make_event(pairing=Pairing.SME_EXPERT)
    sme_user, sme = registered(event)
    _peer_user, peer = registered(event, name="Another SME")

    assert refusal(event, sme, peer, sme_user) == "At this event, SMEs meet experts only."
    response = login_as(sme_user).post(
        f"/events/{event.id}/participants/{peer.id}/ask", data={"reason": "Hello."}
    )
    assert "At this event, SMEs meet experts only." in page_text(response)


@pytest.mark.parametrize("who_says_no", ["sender", "recipient"])
def test_a_no_thanks_from_either_side_rules_the_pair_out(db, who_says_no):
    event = make_event()
    sme_user, sme = registered(event)
    lab_user, lab = registered(event, "expert")
    if who_says_no == "sender":
        participation.set_preference(sme, lab, Preference.NO, sme_user)
    else:
        participation.set_preference(lab, sme, Preference.NO, lab_user)

    assert "“no thanks”" in refusal(event, sme, lab, sme_user)


def test_a_change_of_mind_lifts_ones_own_no_thanks(db):
    event = make_event()
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert")
    participation.set_preference(sme, lab, Preference.NO, sme_user)

    participation.set_preference(sme, lab, Preference.WOULD, sme_user)

    assert participation.ask_to_meet(sme, lab, "After all.", sme_user).state is (
        RequestState.REQUESTED
    )


def test_marking_a_partner_in_one_click_from_my_meetings(db, login_as):
    event = make_event()
    sme_user, sme = registered(event)
    _lab_user, lab = registered(event, "expert", name="Tainan Lab")

    response = login_as(sme_user).post(
        f"/events/{event.id}/participants/{lab.id}/mark",
        data={"choice": "must"},
        follow_redirects=True,
    )

    assert "Tainan Lab: Must meet." in page_text(response)
    assert participation.preferences_of(sme) == {lab.id: Preference.MUST}


def test_a_reviewed_event_holds_requests_until_a_coordinator_approves(db, login_as):
    event = make_event(review_requests=True)
    coordinator = make_user(Role.COORDINATOR)
    sme_user, sme = registered(event, name="Kaohsiung Castings")
    lab_user, lab = registered(event, "expert", name="Tainan Lab")
    request = participation.ask_to_meet(sme, lab, "Casting know-how.", sme_user)
    db.session.commit()

    assert participation.incoming(lab) == []
    assert outbox_to(lab_user.email) == []
    assert any("waits for review" in s for s in outbox_to(coordinator.email))
    with pytest.raises(EventError, match="waiting for a coordinator's review"):
        participation.answer(request, lab_user, accept=True)

    client = login_as(coordinator)
    queue = page_text(client.get(f"/events/{event.id}/requests"))
    assert "Casting know-how." in queue
    client.post(f"/events/{event.id}/requests/{request.id}/review", data={"decision": "approve"})

    db.session.expire_all()
    assert request.state is RequestState.APPROVED
    assert participation.incoming(lab) == [request]
    assert any("asks to meet Tainan Lab" in s for s in outbox_to(lab_user.email))


def test_a_rejected_request_never_reaches_the_other_side_and_the_sender_is_told(db):
    event = make_event(review_requests=True)
    coordinator = make_user(Role.COORDINATOR)
    sme_user, sme = registered(event)
    lab_user, lab = registered(event, "expert")
    request = participation.ask_to_meet(sme, lab, "Casting know-how.", sme_user)

    participation.review(request, coordinator, approve=False)

    assert request.state is RequestState.DECLINED
    assert participation.incoming(lab) == [] and outbox_to(lab_user.email) == []
    assert any("was not approved" in s for s in outbox_to(sme_user.email))
    assert participation.request_stage(request) == "Not approved"


def test_my_meetings_says_when_there_is_nothing_yet(db, login_as):
    event = make_event()
    user, _participant = registered(event)

    page = page_text(login_as(user).get(f"/events/{event.id}/meetings"))

    assert "Nobody has asked to meet you yet." in page
    assert "You have not asked to meet anyone yet" in page


def test_my_meetings_recommends_partners_among_the_participants_to_mark(db, login_as):
    event = make_event()
    user, _sme = registered(
        event,
        name="Kaohsiung Castings",
        summary="Aluminium die-casting plant making e-scooter motor housings.",
        needs="Topology optimisation of die-cast aluminium motor housings to cut their mass.",
    )
    registered(
        event,
        "expert",
        name="Tainan Lightweighting Lab",
        summary="Structural optimisation for cast metal parts.",
        offers="Topology optimisation of aluminium die-cast housings, with casting rules.",
    )
    make_profile(
        "expert",
        name="Unregistered Optimisers",
        offers="Topology optimisation of aluminium die-cast housings and brackets.",
    )
    get_engine().rebuild()

    page = page_text(login_as(user).get(f"/events/{event.id}/meetings"))

    recommended = page.split("Recommended meetings")[1]
    assert "Tainan Lightweighting Lab" in recommended
    assert "Must meet" in recommended  # the one-click marks
    assert "Unregistered Optimisers" not in recommended  # only the event's participants


def test_a_coordinator_answers_for_a_participant_without_an_account(db, login_as):
    event = make_event()
    coordinator = make_user(Role.COORDINATOR)
    sme_user, sme = registered(event)
    unowned = participation.register(
        event, make_profile("expert", name="Offline Lab"), event.sessions, None, coordinator
    )
    request = participation.ask_to_meet(sme, unowned, "Casting know-how.", sme_user)
    db.session.commit()

    client = login_as(coordinator)
    assert "Offline Lab" in page_text(client.get(f"/events/{event.id}/requests"))
    client.post(f"/events/{event.id}/requests/{request.id}/answer", data={"decision": "accept"})

    db.session.expire_all()
    assert request.state is RequestState.ACCEPTED
