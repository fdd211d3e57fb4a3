"""Command-line tools: accounts and the demo programme."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from partnermatch import reference
from partnermatch.auth.models import Role, User
from partnermatch.demo import DEMO_ACCOUNTS, demo_records
from partnermatch.extensions import db
from partnermatch.profiles.models import EvidenceItem, Profile
from tests.factories import PASSWORD, make_user


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_users_create_prompts_twice_for_a_hidden_password(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Coord@Example.org",
            "--role",
            "coordinator",
            "--name",
            "Mei Chen",
        ],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "Created Coordinator account coord@example.org." in result.output
    assert PASSWORD not in result.output
    user = db.session.scalar(select(User))
    assert (user.email, user.role, user.display_name) == (
        "coord@example.org",
        Role.COORDINATOR,
        "Mei Chen",
    )


def test_users_create_refuses_mismatched_passwords(runner):
    result = runner.invoke(
        args=["users", "create", "a@example.org", "--role", "admin", "--name", "A"],
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )

    assert "The two entered values do not match" in result.output
    assert result.exit_code == 0


def test_users_create_explains_what_is_wrong(runner):
    make_user(email="taken@example.org")

    duplicate = runner.invoke(
        args=[
            "users",
            "create",
            "TAKEN@example.org",
            "--role",
            "admin",
            "--name",
            "X",
            "--password",
            PASSWORD,
        ]
    )
    short = runner.invoke(
        args=[
            "users",
            "create",
            "b@example.org",
            "--role",
            "admin",
            "--name",
            "X",
            "--password",
            "short",
        ]
    )
    bad_role = runner.invoke(
        args=[
            "users",
            "create",
            "c@example.org",
            "--role",
            "emperor",
            "--name",
            "X",
            "--password",
            PASSWORD,
        ]
    )

    assert (
        duplicate.exit_code == 2
        and "email: An account with this email address already exists" in duplicate.output
    )
    assert short.exit_code == 2 and "password: Use at least 10 characters" in short.output
    assert bad_role.exit_code == 2 and "'emperor' is not one of" in bad_role.output
    assert count(User) == 1


def test_demo_load_creates_profiles_accounts_and_prints_the_logins(runner):
    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 0, result.output
    records = list(demo_records())
    assert f"Demo profiles: {len(records)} created, 0 already present" in result.output
    assert "skipped" not in result.output
    for account in DEMO_ACCOUNTS:
        assert account.email in result.output
    assert "partnermatch-demo" in result.output
    assert count(Profile) == len(records)
    assert count(User) == len(DEMO_ACCOUNTS)


def test_demo_accounts_own_their_profiles(runner):
    runner.invoke(args=["demo", "load"])

    for account in DEMO_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == account.email))
        assert user.role is account.role
        if account.profile_external_id:
            assert user.profile.external_id == account.profile_external_id
        else:
            assert user.profile is None


def test_demo_load_is_idempotent(runner):
    runner.invoke(args=["demo", "load"])
    counts = (count(Profile), count(User), count(EvidenceItem))

    again = runner.invoke(args=["demo", "load"])

    assert again.exit_code == 0
    assert f"0 created, {counts[0]} already present" in again.output
    assert (count(Profile), count(User), count(EvidenceItem)) == counts


def test_demo_load_if_empty_leaves_a_used_database_alone(runner):
    make_user()

    result = runner.invoke(args=["demo", "load", "--if-empty"])

    assert "already holds data" in result.output
    assert count(Profile) == 0


def test_demo_data_covers_the_programme(runner):
    runner.invoke(args=["demo", "load"])
    profiles = list(db.session.scalars(select(Profile)))

    assert len(profiles) >= 80
    economies = {profile.economy for profile in profiles}
    assert set(reference.APEC_ECONOMY_NAMES) <= economies
    sectors = Counter(code for profile in profiles for code in profile.sectors)
    assert all(
        sectors[code] >= 3 for code in ("metal", "green-vehicles", "ict-its", "cultural-creative")
    )
    assert len(sectors) >= 8
    positions = {code for profile in profiles for code in profile.value_chain}
    assert positions == set(reference.VALUE_CHAIN_CODES)
    affiliations = Counter(
        profile.affiliation.value for profile in profiles if profile.kind.value == "expert"
    )
    assert all(
        affiliations[name] >= 3 for name in ("industry", "government", "academia", "research")
    )
    assert all(profile.evidence for profile in profiles)
    assert all(profile.contact_email.endswith((".example", "example.org")) for profile in profiles)


def test_demo_economies_are_not_all_alike(runner):
    runner.invoke(args=["demo", "load"])
    by_economy: dict[str, list[Profile]] = {}
    for profile in db.session.scalars(select(Profile)):
        by_economy.setdefault(profile.economy, []).append(profile)

    for code in reference.APEC_ECONOMY_NAMES:
        members = by_economy[code]
        assert len(members) >= 4, code
        assert {p.kind.value for p in members} == {"sme", "expert"}, code
        assert len({(tuple(p.sectors), tuple(p.value_chain)) for p in members}) >= 3, code


def test_the_demo_pairs_the_forums_example(runner):
    runner.invoke(args=["demo", "load"])
    diecaster = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-sme-tw-aluminium-diecasting")
    )
    lab = db.session.scalar(
        select(Profile).where(Profile.external_id == "demo-expert-jp-topology-optimisation")
    )

    assert (diecaster.economy, diecaster.kind.value) == ("TW", "sme")
    assert "lightweight" in diecaster.needs.lower()
    assert (lab.economy, lab.affiliation.value) == ("JP", "academia")
    assert any("topology" in item.title.lower() for item in lab.evidence)


@pytest.mark.parametrize(
    "command",
    [["index", "status"], ["demo", "load"], ["outbox", "send"]],
)
def test_before_db_upgrade_a_command_says_to_run_it_instead_of_a_traceback(app, command):
    result = app.test_cli_runner().invoke(args=command)  # the app fixture creates no tables

    assert result.exit_code == 1
    assert "no PartnerMatch tables yet: run `flask --app wsgi db upgrade` first" in result.output
    assert "Traceback" not in result.output
