"""Sessions end when they should: a logout, a password change and an admin's deactivation end
every session of the account, its remember cookies too (replayed here as a thief would).

Several browsers at once: each request runs in its own application context, as in
production (a context held by the test would share Flask-Login's cached user between them).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from partnermatch.auth import services
from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from tests.conftest import make_test_app
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase"
PROTECTED = "/account/tokens"


def logged_in(app: Flask, user: Account | User, *, remember: bool = True) -> FlaskClient:
    client = app.test_client()
    data = {"email": user.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def stolen_cookies(client: FlaskClient) -> dict[str, str]:
    return {name: client.get_cookie(name).value for name in ("session", "remember_token")}


def replay(app: Flask, cookies: dict[str, str], *names: str) -> int:
    """Open the protected page in a new browser holding only these cookies."""
    thief = app.test_client()
    for name in names:
        thief.set_cookie(name, cookies[name])
    return thief.get(PROTECTED).status_code


@pytest.fixture
def site(tmp_path) -> Iterator[Flask]:
    app = make_test_app(tmp_path)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@dataclass(frozen=True)
class Account:
    id: int
    email: str


def account(app: Flask, role: Role = Role.SME) -> Account:
    with app.app_context():
        user = make_user(role)
        return Account(user.id, user.email)


def is_active(app: Flask, user: Account) -> bool:
    with app.app_context():
        return db.session.get(User, user.id).active


@pytest.fixture
def member(site) -> Account:
    return account(site)


def test_old_cookies_work_until_the_account_ends_its_sessions(site, member):
    cookies = stolen_cookies(logged_in(site, member))

    assert replay(site, cookies, "session") == 200
    assert replay(site, cookies, "remember_token") == 200


def test_a_logout_ends_every_session_and_remember_cookie_of_the_account(site, member):
    laptop = logged_in(site, member)
    phone = logged_in(site, member)
    cookies = stolen_cookies(laptop)

    laptop.post("/logout")

    assert replay(site, cookies, "session") == 302
    assert replay(site, cookies, "remember_token") == 302
    assert phone.get(PROTECTED).status_code == 302  # the other device too


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(site, member):
    laptop = logged_in(site, member)
    phone = logged_in(site, member)
    cookies = stolen_cookies(phone)

    response = laptop.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert laptop.get(PROTECTED).status_code == 200
    assert replay(site, stolen_cookies(laptop), "remember_token") == 200  # a fresh cookie
    assert phone.get(PROTECTED).status_code == 302
    assert replay(site, cookies, "session") == 302
    assert replay(site, cookies, "remember_token") == 302


def test_an_admins_deactivation_ends_every_session_of_the_account(site, member):
    cookies = stolen_cookies(logged_in(site, member))
    admin = logged_in(site, account(site, Role.ADMIN), remember=False)

    response = admin.post(f"/users/{member.id}/active", data={"active": "0"})

    assert response.status_code == 302
    assert not is_active(site, member)
    assert replay(site, cookies, "session") == 302
    assert replay(site, cookies, "remember_token") == 302
    # Reactivated, the account logs in again, but the old cookies stay dead.
    admin.post(f"/users/{member.id}/active", data={"active": "1"})
    assert replay(site, cookies, "remember_token") == 302
    assert logged_in(site, member).get(PROTECTED).status_code == 200


def test_an_admin_cannot_deactivate_their_own_account(site):
    admin_user = account(site, Role.ADMIN)
    admin = logged_in(site, admin_user)

    admin.post(f"/users/{admin_user.id}/active", data={"active": "0"})

    assert is_active(site, admin_user)
    assert admin.get(PROTECTED).status_code == 200


def test_a_session_id_from_before_session_versions_loads_no_one(site, member):
    with site.app_context():
        assert services.user_for_session(str(member.id)) is None
        assert services.user_for_session(f"{member.id}:0").id == member.id
        assert services.user_for_session(f"{2**63}:0") is None
        assert services.user_for_session("x:0") is None


# --- login timing -----------------------------------------------------------------------------


def test_an_unknown_email_costs_the_same_password_check_as_a_known_one(tmp_path, monkeypatch):
    app = make_test_app(tmp_path, PASSWORD_HASH_METHOD="scrypt")
    checked: list[str] = []
    original = services.check_password_hash

    def recording(password_hash: str, password: str) -> bool:
        checked.append(password_hash.split("$", 1)[0])
        return original(password_hash, password)

    monkeypatch.setattr(services, "check_password_hash", recording)
    with app.app_context():
        db.create_all()
        user = make_user(Role.SME)

        def seconds(email: str) -> float:
            started = time.perf_counter()
            assert services.authenticate(email, "a wrong password") is None
            return time.perf_counter() - started

        known = [seconds(user.email) for _ in range(5)]
        unknown = [seconds("nobody@example.org") for _ in range(5)]
        db.session.remove()
        db.engine.dispose()

    assert set(checked) == {"scrypt:32768:8:1"}  # one method for both: the accounts'
    # The probe measured 95 ms against 5 ms; the same work gives the same time, give or take.
    assert statistics.median(unknown) > 0.5 * statistics.median(known)


def test_registration_still_says_when_an_email_has_an_account_and_is_rate_limited(tmp_path):
    app = make_test_app(tmp_path, REGISTER_RATE_LIMIT="2 per minute")
    with app.app_context():
        db.create_all()
        make_user(Role.SME, email="taken@example.org")
        client = app.test_client()
        form = {
            "role": "sme",
            "display_name": "Someone",
            "email": "taken@example.org",
            "password": PASSWORD,
            "confirm": PASSWORD,
        }

        answers = [client.post("/register", data=form) for _ in range(3)]

        assert "An account with this email address already exists." in answers[0].get_data(
            as_text=True
        )
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        db.session.remove()
        db.engine.dispose()
