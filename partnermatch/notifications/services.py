"""Tell people what happened: a notification in the app and an email in the outbox.

Messages are written in the caller's transaction, so a change that is rolled back tells no
one. They never carry contact details: those are shown on the match page, and only once both
parties have accepted.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select, update

from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from partnermatch.notifications.models import Notification, OutboxMessage, render_message
from partnermatch.timeutil import utcnow


def notify(
    users: Iterable[User | None],
    message: str,
    values: dict[str, str] | None = None,
    *,
    match_id: int | None = None,
    link: str = "",
) -> int:
    """Write a notification and an outbox email for each distinct, active user; return how many.

    `message` is a catalogue message (marked with N_) with %(name)s fields filled from
    `values`: each reader sees it in their interface language, and each email is written in
    the language its recipient chose.
    """
    values = dict(values or {})
    seen: set[int] = set()
    for user in users:
        if user is None or not user.active or user.id in seen:
            continue
        seen.add(user.id)
        db.session.add(
            Notification(
                user_id=user.id,
                match_id=match_id,
                message=message,
                message_values=values,
                link=link,
            )
        )
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            text = render_message(message, values)
            body = gettext("Hello %(name)s,", name=user.display_name) + f"\n\n{text}\n"
            if link:
                # Emails are read outside the site: the link carries its address.
                url = current_app.config["BASE_URL"] + link
                body += "\n" + gettext("See %(link)s", link=url) + "\n"
        db.session.add(
            OutboxMessage(to_email=user.email, subject=f"PartnerMatch: {text[:150]}", body=body)
        )
    return len(seen)


def coordinators() -> list[User]:
    """Return every active coordinator and admin."""
    return list(
        db.session.scalars(
            select(User).where(User.role.in_((Role.COORDINATOR, Role.ADMIN)), User.active.is_(True))
        )
    )


def unread_count(user: User) -> int:
    """Return how many notifications the user has not read."""
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def notifications_of(user: User, page: int, per_page: int) -> Pagination:
    """Return a page of the user's notifications, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def mark_all_read(user: User) -> None:
    """Mark every notification of the user as read."""
    db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )


def outbox_page(page: int, per_page: int) -> Pagination:
    """Return a page of the outbox, newest first (the development view of sent mail)."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class SendReport:
    sent: int
    failed: int


def send_outbox(settings: Mapping[str, Any], limit: int = 500) -> SendReport:
    """Send unsent outbox messages through SMTP, committing each as it goes; failures stay
    queued with their error."""
    pending = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )
    sent = failed = 0
    if not pending:
        return SendReport(0, 0)
    with smtplib.SMTP(settings["SMTP_HOST"], settings["SMTP_PORT"], timeout=30) as smtp:
        if settings.get("SMTP_STARTTLS"):
            smtp.starttls()
        if settings.get("SMTP_USERNAME"):
            smtp.login(settings["SMTP_USERNAME"], settings["SMTP_PASSWORD"])
        for message in pending:
            email = EmailMessage()
            email["From"] = settings["MAIL_FROM"]
            email["To"] = message.to_email
            email["Subject"] = message.subject
            email.set_content(message.body)
            message.attempts += 1
            try:
                smtp.send_message(email)
            except smtplib.SMTPException as error:
                message.last_error = str(error)
                failed += 1
            else:
                message.sent_at = utcnow()
                message.last_error = ""
                sent += 1
            # Recorded one by one: should the connection break later in the batch, the
            # messages already handed to the server are not sent again by the next run.
            db.session.commit()
    return SendReport(sent, failed)
