"""Messages between the two parties of an introduction: who writes, who reads, who is told."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from partnermatch.auth.models import Role
from partnermatch.auth.tokens import create_token
from partnermatch.extensions import db
from partnermatch.notifications.models import Notification, OutboxMessage, render_message
from partnermatch.review import services
from partnermatch.review.models import Match, MatchMessage, MatchState, Response
from partnermatch.review.services import TransitionError
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

CONTACTS = ("sales@castings.example", "sato@lab.example")


@pytest.fixture
def people(db):
    sme_user = make_user(Role.SME, email="owner@castings.example", display_name="Mei")
    expert_user = make_user(Role.EXPERT, email="owner@lab.example", display_name="Sato")
    return {
        "sme": sme_user,
        "sme_profile": make_profile(
            owner=sme_user, name="Kaohsiung Castings", contact_email=CONTACTS[0]
        ),
        "expert": expert_user,
        "expert_profile": make_profile(
            "expert", owner=expert_user, name="Dr. Sato", economy="JP", contact_email=CONTACTS[1]
        ),
        "coordinator": make_user(Role.COORDINATOR, email="coordinator@programme.example"),
        "outsider": make_user(Role.SME),
    }


def new_match(people, state=MatchState.INTRODUCED) -> Match:
    match = services.request_introduction(people["sme"], people["expert_profile"])
    match.state = state
    if state is not MatchState.SUGGESTED:
        match.sme_response = match.partner_response = Response.ACCEPTED
    db.session.commit()
    return match


def notifications_of(user) -> list[str]:
    return [
        n.text
        for n in db.session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    ]


def emails_to(address: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.to_email == address)))


def test_the_parties_write_to_each_other_on_the_match_page(app, people, login_as):
    match = new_match(people)
    client = login_as(people["sme"])

    response = client.post(
        f"/matches/{match.id}/messages",
        data={"body": "Could we meet at the Taipei forum?\nTuesday suits us."},
        follow_redirects=True,
    )
    client.post("/logout")
    login_as(people["expert"]).post(
        f"/matches/{match.id}/messages", data={"body": "Tuesday at 10, table 4."}
    )
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)

    assert "Message sent." in response.get_data(as_text=True)
    first, second = page.index("Tuesday suits us."), page.index("Tuesday at 10, table 4.")
    assert first < second  # oldest first, as a conversation reads
    assert "Kaohsiung Castings</strong> (Mei)" in page and "Dr. Sato</strong> (Sato)" in page
    assert [(m.side, m.author_id) for m in services.messages_page(match, 1).items] == [
        ("partner", people["expert"].id),
        ("sme", people["sme"].id),
    ]


def test_an_empty_message_shows_the_form_again_with_its_error(app, people, login_as):
    match = new_match(people)

    response = login_as(people["sme"]).post(f"/matches/{match.id}/messages", data={"body": "  \n "})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Write a message first." in page and 'aria-invalid="true"' in page
    assert db.session.scalar(select(func.count(MatchMessage.id))) == 0


def test_a_message_longer_than_the_limit_is_refused_and_kept_in_the_form(app, people, login_as):
    match = new_match(people)
    body = "x" * (services.MAX_MESSAGE + 1)

    response = login_as(people["sme"]).post(f"/matches/{match.id}/messages", data={"body": body})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"cannot be longer than {services.MAX_MESSAGE} characters" in page and body in page
    assert db.session.scalar(select(func.count(MatchMessage.id))) == 0
    with pytest.raises(TransitionError, match="under 4000 characters"):
        services.post_message(match, people["sme"], body)


def test_the_services_refusal_of_a_long_message_reads_in_the_readers_language(app, people):
    match = new_match(people)

    with pytest.raises(TransitionError) as refused:
        services.post_message(match, people["sme"], "x" * (services.MAX_MESSAGE + 1))
    with app.test_request_context(headers={"Accept-Language": "es"}):
        spanish = render_message(refused.value.message, refused.value.values)

    assert str(refused.value) == f"Keep the message under {services.MAX_MESSAGE} characters."
    assert spanish == f"Mantenga el mensaje por debajo de {services.MAX_MESSAGE} caracteres."


def test_a_message_is_shown_as_text_not_markup(app, people, login_as):
    match = new_match(people)
    services.post_message(match, people["sme"], "<script>alert(1)</script> <b>bold</b>")
    db.session.commit()

    page = login_as(people["expert"]).get(f"/matches/{match.id}").get_data(as_text=True)

    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert(1)" not in page


def test_unread_messages_are_counted_until_the_reader_opens_the_match(app, people, login_as):
    match = new_match(people)
    services.post_message(match, people["expert"], "First.")
    services.post_message(match, people["expert"], "Second.")
    db.session.commit()

    assert services.unread_messages(people["sme"]) == {match.id: 2}
    assert services.unread_messages(people["expert"]) == {}  # one's own messages are read
    assert [(m.id, n) for m, n in services.matches_with_unread_messages(people["sme"])] == [
        (match.id, 2)
    ]
    client = login_as(people["sme"])
    assert "2 unread messages" in client.get("/introductions").get_data(as_text=True)

    client.get(f"/matches/{match.id}")

    assert services.unread_messages(people["sme"]) == {}
    assert "unread message" not in client.get("/introductions").get_data(as_text=True)
    services.post_message(match, people["expert"], "Third.")
    db.session.commit()
    assert services.unread_messages(people["sme"]) == {match.id: 1}


def test_the_other_party_is_told_once_until_they_open_the_thread(app, people, login_as):
    match = new_match(people)
    for body in ("Hello.", "Are you there?", "Call me on 0912 345 678."):
        services.post_message(match, people["sme"], body)
    db.session.commit()

    assert notifications_of(people["expert"]) == [
        "New message from Kaohsiung Castings about your introduction."
    ]
    [email] = emails_to("owner@lab.example")
    assert f"/matches/{match.id}#messages" in email.body
    assert "0912" not in email.body and not any(contact in email.body for contact in CONTACTS)
    assert notifications_of(people["sme"]) == []  # the author is not told of their own words

    login_as(people["expert"]).get(f"/matches/{match.id}")
    services.post_message(match, people["sme"], "One more thing.")
    db.session.commit()

    assert len(emails_to("owner@lab.example")) == 2


def test_the_notification_of_a_message_opens_the_thread_not_the_top_of_the_page(
    app, people, login_as
):
    match = new_match(people)
    services.post_message(match, people["sme"], "Hello.")
    db.session.commit()

    page = login_as(people["expert"]).get("/notifications").get_data(as_text=True)

    assert f'<a href="/matches/{match.id}#messages">New message from' in page


def test_no_one_writes_before_both_parties_accepted(app, people, login_as):
    match = new_match(people, MatchState.APPROVED)
    match.partner_response = Response.PENDING
    db.session.commit()
    client = login_as(people["sme"])

    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    response = client.post(f"/matches/{match.id}/messages", data={"body": "My phone: 0912."})

    assert "Once both sides accept, you can write to each other here." in page
    assert 'id="messages"' not in page and CONTACTS[1] not in page
    assert response.status_code == 403
    with pytest.raises(TransitionError, match="once both have accepted"):
        services.post_message(match, people["sme"], "My phone: 0912.")
    db.session.rollback()
    assert db.session.scalar(select(func.count(MatchMessage.id))) == 0


def test_the_parties_may_still_write_after_the_outcome(app, people):
    match = new_match(people, MatchState.PARTNERSHIP_FORMED)

    services.post_message(match, people["expert"], "The contract is signed.")
    db.session.commit()

    assert services.unread_messages(people["sme"]) == {match.id: 1}


def test_a_member_who_is_not_a_party_can_neither_read_nor_write(app, people, login_as):
    match = new_match(people)
    services.post_message(match, people["sme"], "Private plans.")
    db.session.commit()
    client = login_as(people["outsider"])

    assert client.get(f"/matches/{match.id}").status_code == 404
    assert client.post(f"/matches/{match.id}/messages", data={"body": "Hi"}).status_code == 404
    assert not services.can_read_messages(match, people["outsider"])
    with pytest.raises(TransitionError):
        services.post_message(match, people["outsider"], "Hi")
    db.session.rollback()
    assert db.session.scalar(select(func.count(MatchMessage.id))) == 1


def test_coordinators_read_the_thread_but_do_not_write_in_it(app, people, login_as):
    match = new_match(people)
    services.post_message(match, people["sme"], "We can ship samples in May.")
    db.session.commit()
    client = login_as(people["coordinator"])

    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    response = client.post(f"/matches/{match.id}/messages", data={"body": "Hello both."})

    assert "We can ship samples in May." in page
    assert "Coordinators read the thread; only the two parties write in it." in page
    assert 'name="body"' not in page
    assert response.status_code == 403
    assert services.unread_messages(people["expert"]) == {match.id: 1}  # still theirs to read
    assert db.session.scalar(select(func.count(MatchMessage.id))) == 1


def test_a_long_thread_shows_the_latest_messages_and_links_to_earlier_ones(app, people, login_as):
    match = new_match(people)
    db.session.add_all(
        MatchMessage(match_id=match.id, author=people["sme"], side="sme", body=f"Note {n:02d}.")
        for n in range(services.MESSAGES_PER_PAGE + 1)
    )
    db.session.commit()
    client = login_as(people["expert"])

    latest = client.get(f"/matches/{match.id}").get_data(as_text=True)
    earlier = client.get(f"/matches/{match.id}?page=2").get_data(as_text=True)

    assert "Note 50." in latest and "Note 01." in latest and "Note 00." not in latest
    assert f"/matches/{match.id}?page=2#messages" in latest and "Earlier messages" in latest
    assert "Note 00." in earlier and "Note 01." not in earlier and "Later messages" in earlier


def bearer(user) -> dict[str, str]:
    _token, secret = create_token(user, "messages")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_reads_and_writes_the_thread_with_the_pages_rules(app, people):
    match = new_match(people)
    client = app.test_client()
    url = f"/api/v1/matches/{match.id}/messages"

    created = client.post(url, json={"body": "Samples ship Monday."}, headers=bearer(people["sme"]))
    listed = client.get(url, headers=bearer(people["expert"])).get_json()

    assert created.status_code == 201
    assert created.get_json()["from"] == "Kaohsiung Castings"
    assert [(m["side"], m["body"]) for m in listed["messages"]] == [("sme", "Samples ship Monday.")]
    assert (listed["total"], listed["next"]) == (1, None)
    assert services.unread_messages(people["expert"]) == {match.id: 1}  # not opened on the site
    empty = client.post(url, json={"body": " "}, headers=bearer(people["expert"]))
    assert (empty.status_code, empty.get_json()["error"]["field"]) == (422, "body")
    staff = bearer(people["coordinator"])
    assert client.get(url, headers=staff).status_code == 200
    assert client.post(url, json={"body": "Hello."}, headers=staff).status_code == 403
    outsider = bearer(people["outsider"])
    assert client.get(url, headers=outsider).status_code == 404
    assert client.post(url, json={"body": "Hi."}, headers=outsider).status_code == 404


def test_the_api_keeps_the_thread_closed_until_both_parties_accepted(app, people):
    match = new_match(people, MatchState.APPROVED)
    match.partner_response = Response.PENDING
    db.session.commit()
    url = f"/api/v1/matches/{match.id}/messages"

    response = app.test_client().post(url, json={"body": "Hi."}, headers=bearer(people["sme"]))

    assert response.status_code == 403
    assert "once both parties have accepted" in response.get_json()["error"]["message"]


def test_the_thread_and_its_email_speak_each_readers_language(app, people, login_as):
    people["expert"].locale = "zh_Hant"
    db.session.commit()
    match = new_match(people)
    services.post_message(match, people["sme"], "Samples ship Monday.")
    db.session.commit()

    [email] = emails_to("owner@lab.example")
    page = login_as(people["expert"]).get(f"/matches/{match.id}").get_data(as_text=True)

    assert "Kaohsiung Castings就您的引介傳來新訊息。" in email.body
    assert ">訊息</h2>" in page and "送出訊息" in page and "Samples ship Monday." in page
