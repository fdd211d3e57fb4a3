"""Accounts: registration, login, logout, passwords, roles and safe redirects."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnermatch import create_app
from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from tests.conftest import make_test_app
from tests.factories import PASSWORD, make_user


def register(client, **fields):
    data = {
        "role": "sme",
        "display_name": "Lan Nguyen",
        "email": "lan@example.org",
        "password": PASSWORD,
        "confirm": PASSWORD,
        **fields,
    }
    return client.post("/register", data=data)


def users_with_email(email: str) -> list[User]:
    return list(db.session.scalars(select(User).where(User.email == email)))


@pytest.mark.parametrize("role", ["sme", "expert"])
def test_registering_creates_an_account_logs_in_and_asks_for_a_profile(client, role):
    response = register(client, role=role)

    assert response.status_code == 302
    assert response.headers["Location"] == "/profiles/new"
    [user] = users_with_email("lan@example.org")
    assert user.role == Role(role)
    assert client.get("/profiles/new").status_code == 200


def test_nobody_registers_as_coordinator_or_admin(client):
    response = register(client, role="coordinator")

    assert response.status_code == 200
    assert b"Not a valid choice" in response.data
    assert users_with_email("lan@example.org") == []


def test_email_is_unique_whatever_its_case(client, db):
    make_user(email="lan@example.org")

    response = register(client, email="LAN@Example.org")

    assert b"already exists" in response.data
    assert len(list(db.session.scalars(select(User)))) == 1


def test_registration_form_shows_every_problem_and_keeps_what_was_typed(client):
    response = register(client, email="not-an-email", confirm="something else", password="short")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Invalid email address" in page
    assert "The two passwords differ" in page
    assert "at least 10" in page.lower()
    assert 'value="Lan Nguyen"' in page
    assert users_with_email("not-an-email") == []


def test_login_with_a_wrong_password_is_refused(client, db):
    user = make_user()

    response = client.post("/login", data={"email": user.email, "password": "wrong password"})

    assert b"The email or the password is wrong" in response.data
    assert client.get("/account/password").status_code == 302


def test_login_ignores_the_email_case(client, db):
    make_user(email="kim@example.org")

    response = client.post("/login", data={"email": "KIM@example.ORG", "password": PASSWORD})

    assert response.status_code == 302


def test_a_name_ending_in_a_full_stop_ends_the_welcome_once(client, db):
    user = make_user(display_name="Metalúrgica Sul Ltda.")

    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD}, follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert "Logged in as Metalúrgica Sul Ltda.</p>" in page
    assert "Ltda.." not in page


def test_an_inactive_account_cannot_log_in(client, db):
    user = make_user(active=False)

    response = client.post("/login", data={"email": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert b"The email or the password is wrong" in response.data


def test_login_follows_a_local_next_url(client, db):
    user = make_user()

    response = client.post(
        "/login?next=/profiles/?sector=metal", data={"email": user.email, "password": PASSWORD}
    )

    assert response.headers["Location"] == "/profiles/?sector=metal"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_site(client, db, target):
    user = make_user()

    response = client.post(
        f"/login?next={target}", data={"email": user.email, "password": PASSWORD}
    )

    assert response.headers["Location"] == "/"


def test_logout_needs_a_post_and_ends_the_session(client, db, login_as):
    login_as(make_user())

    assert client.get("/logout").status_code == 405
    client.post("/logout")

    assert client.get("/account/password").status_code == 302


def test_pages_behind_login_send_visitors_to_the_login_form(client):
    response = client.get("/account/password")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_changing_the_password_needs_the_current_one(client, db, login_as):
    user = make_user()
    login_as(user)

    wrong = client.post(
        "/account/password",
        data={
            "current_password": "not it at all",
            "new_password": "a new password!",
            "confirm": "a new password!",
        },
    )
    assert b"This is not your current password" in wrong.data

    client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new password!",
            "confirm": "a new password!",
        },
    )
    client.post("/logout")
    assert (
        client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 200
    )
    assert (
        client.post("/login", data={"email": user.email, "password": "a new password!"}).status_code
        == 302
    )


@pytest.mark.parametrize("role", [Role.SME, Role.EXPERT, Role.COORDINATOR])
def test_only_admins_manage_accounts(client, db, login_as, role):
    login_as(make_user(role))

    assert client.get("/users").status_code == 403
    response = client.post(
        "/users",
        data={
            "display_name": "Sneaky",
            "email": "sneaky@example.org",
            "role": "admin",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 403
    assert users_with_email("sneaky@example.org") == []


def test_an_admin_creates_a_coordinator(client, db, login_as):
    login_as(make_user(Role.ADMIN))

    response = client.post(
        "/users",
        data={
            "display_name": "Mei Chen",
            "email": "mei@example.org",
            "role": "coordinator",
            "password": PASSWORD,
        },
        follow_redirects=True,
    )

    assert b"Created the Coordinator account mei@example.org" in response.data
    [user] = users_with_email("mei@example.org")
    assert user.role is Role.COORDINATOR


def test_passwords_are_stored_hashed(db):
    user = make_user()

    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("pbkdf2:sha256")


def test_by_default_passwords_are_hashed_with_memory_hard_scrypt(tmp_path):
    app = create_app(
        {"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/db.sqlite3"},
        instance_path=tmp_path,
    )
    with app.app_context():
        db.create_all()
        user = make_user()

        assert user.password_hash.startswith("scrypt:")
        db.session.remove()
        db.engine.dispose()


def test_every_form_post_needs_a_csrf_token(tmp_path):
    app = make_test_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        client = app.test_client()

        response = client.post(
            "/register",
            data={
                "role": "sme",
                "display_name": "X",
                "email": "x@example.org",
                "password": PASSWORD,
                "confirm": PASSWORD,
            },
        )

        assert response.status_code == 400
        assert b"The form expired" in response.data
        assert users_with_email("x@example.org") == []
        db.session.remove()
        db.engine.dispose()
