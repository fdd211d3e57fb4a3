"""Notifications and the email outbox: who hears what, and never a contact detail too early."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.notifications.models import Notification, OutboxMessage
from partnermatch.review import services
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)

CONTACTS = ("sales@castings.example", "sato@lab.example")


@pytest.fixture
def pair(db):
    sme = make_user(Role.SME, email="owner@castings.example")
    expert = make_user(Role.EXPERT, email="owner@lab.example")
    return {
        "sme": sme,
        "expert": expert,
        "coordinator": make_user(Role.COORDINATOR, email="coordinator@programme.example"),
        "sme_profile": make_profile(
            owner=sme, name="Kaohsiung Castings", contact_email=CONTACTS[0]
        ),
        "expert_profile": make_profile(
            "expert", owner=expert, name="Dr. Sato", economy="JP", contact_email=CONTACTS[1]
        ),
    }


def outbox_text() -> str:
    return "\n".join(
        f"{m.to_email} {m.subject} {m.body}" for m in db.session.scalars(select(OutboxMessage))
    )


def messages_for(user) -> list[str]:
    return [
        n.text
        for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id))
    ]


def test_each_step_tells_the_right_people(pair):
    match = services.request_introduction(pair["sme"], pair["expert_profile"], "Hello")
    assert messages_for(pair["coordinator"]) == [
        "Kaohsiung Castings asks to be introduced to Dr. Sato."
    ]
    assert messages_for(pair["expert"]) == []

    services.approve(match, pair["coordinator"])
    assert "Please accept or decline it" in messages_for(pair["expert"])[-1]
    assert "Please accept or decline it" in messages_for(pair["sme"])[-1]

    services.respond(match, pair["expert"], True)
    services.respond(match, pair["sme"], True)
    db.session.commit()
    assert "are introduced" in messages_for(pair["sme"])[-1]
    assert "are introduced" in messages_for(pair["coordinator"])[-1]


def test_no_message_carries_a_contact_detail(pair):
    match = services.request_introduction(pair["sme"], pair["expert_profile"])
    services.approve(match, pair["coordinator"])
    services.respond(match, pair["expert"], True)
    before_consent = outbox_text()
    services.respond(match, pair["sme"], True)
    services.record_outcome(match, pair["sme"], "meeting_held")
    db.session.commit()

    assert before_consent and not any(contact in before_consent for contact in CONTACTS)
    assert not any(contact in outbox_text() for contact in CONTACTS)


def test_a_rolled_back_step_tells_no_one(pair):
    match = services.request_introduction(pair["sme"], pair["expert_profile"])
    db.session.commit()
    count = len(list(db.session.scalars(select(OutboxMessage))))

    services.approve(match, pair["coordinator"])
    db.session.rollback()

    assert len(list(db.session.scalars(select(OutboxMessage)))) == count


def test_the_badge_counts_unread_notifications_until_read(app, pair, login_as):
    match = services.request_introduction(pair["sme"], pair["expert_profile"])
    services.approve(match, pair["coordinator"])
    db.session.commit()
    client = login_as(pair["expert"])

    assert '<span class="badge badge-count">1' in client.get("/").get_data(as_text=True)
    assert "Please accept or decline it" in client.get("/notifications").get_data(as_text=True)
    client.post("/notifications/read")
    assert "badge-count" not in client.get("/").get_data(as_text=True)


def test_only_staff_read_the_outbox(app, pair, login_as):
    services.request_introduction(pair["sme"], pair["expert_profile"])
    db.session.commit()
    client = login_as(pair["sme"])
    assert client.get("/outbox").status_code == 403
    client.post("/logout")

    page = login_as(pair["coordinator"]).get("/outbox").get_data(as_text=True)

    assert "coordinator@programme.example" in page and "SMTP is not configured" in page


def test_outbox_send_without_smtp_leaves_the_messages_queued(runner, pair):
    services.request_introduction(pair["sme"], pair["expert_profile"])
    db.session.commit()

    result = runner.invoke(args=["outbox", "send"])

    assert "SMTP is not configured" in result.output and "1 messages wait" in result.output


class RecordingSMTP:
    """Stands in for the mail server at the network boundary; the connection breaks after
    `breaks_after` messages when that is set."""

    delivered: list[tuple[str, str, str]] = []
    breaks_after: int | None = None

    def __init__(self, host, port, timeout):
        self.host = host

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self):
        pass

    def send_message(self, message):
        if self.breaks_after is not None and len(self.delivered) >= self.breaks_after:
            raise ConnectionResetError("connection reset by peer")
        self.delivered.append((self.host, message["To"], message["Subject"]))


@pytest.fixture
def mail_server(app, monkeypatch) -> type[RecordingSMTP]:
    monkeypatch.setattr(RecordingSMTP, "delivered", [])
    monkeypatch.setattr("partnermatch.notifications.services.smtplib.SMTP", RecordingSMTP)
    app.config["SMTP_HOST"] = "mail.programme.example"
    return RecordingSMTP


def test_outbox_send_delivers_through_smtp(runner, pair, mail_server):
    delivered = mail_server.delivered
    services.request_introduction(pair["sme"], pair["expert_profile"])
    db.session.commit()

    result = runner.invoke(args=["outbox", "send"])
    again = runner.invoke(args=["outbox", "send"])

    assert "Sent 1, failed 0" in result.output and "Sent 0, failed 0" in again.output
    assert delivered == [
        (
            "mail.programme.example",
            "coordinator@programme.example",
            "PartnerMatch: Kaohsiung Castings asks to be introduced to Dr. Sato.",
        )
    ]


def test_a_connection_lost_mid_batch_sends_no_message_twice(runner, pair, mail_server, monkeypatch):
    for number in range(3):
        db.session.add(
            OutboxMessage(to_email=f"p{number}@example.org", subject=f"#{number}", body=".")
        )
    db.session.commit()
    monkeypatch.setattr(mail_server, "breaks_after", 2)

    broken = runner.invoke(args=["outbox", "send"])
    monkeypatch.setattr(mail_server, "breaks_after", None)
    resumed = runner.invoke(args=["outbox", "send"])

    assert broken.exit_code == 1 and "Could not reach mail.programme.example" in broken.output
    assert "Sent 1, failed 0" in resumed.output
    assert [subject for _host, _to, subject in mail_server.delivered] == ["#0", "#1", "#2"]


def test_emails_link_to_the_match_with_the_sites_address(tmp_path, shared_embedding_cache):
    from tests.conftest import make_test_app

    app = make_test_app(tmp_path, BASE_URL="https://partners.example.org/")
    with app.app_context():
        db.create_all()
        sme = make_user(Role.SME)
        make_profile(owner=sme)
        make_user(Role.COORDINATOR)
        match = services.request_introduction(sme, make_profile("expert"))
        db.session.commit()

        [email] = db.session.scalars(select(OutboxMessage))

        assert f"See https://partners.example.org/matches/{match.id}\n" in email.body
        db.session.remove()
        db.engine.dispose()


def test_a_name_ending_in_a_full_stop_does_not_double_the_sentences(app):
    from partnermatch.notifications.models import render_message

    text = render_message(
        "%(sme)s asks to be introduced to %(partner)s.",
        {"sme": "Hanoi Motors", "partner": "Metalúrgica Sul Ltda."},
    )

    assert text == "Hanoi Motors asks to be introduced to Metalúrgica Sul Ltda."
