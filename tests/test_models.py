"""Rules the schema and the models enforce, whatever the caller."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from partnermatch.errors import ValidationError
from partnermatch.profiles.models import EvidenceItem, Profile
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


def test_emails_are_unique_even_when_written_around_the_orm(db):
    make_user(email="ana@example.org")

    with pytest.raises(IntegrityError):
        db.session.execute(
            text(
                "INSERT INTO users (email, password_hash, display_name, role, active, created_at) "
                "VALUES ('ANA@example.org', 'x', 'Ana', 'sme', true, CURRENT_TIMESTAMP)"
            )
        )
    db.session.rollback()


def test_an_sme_profile_row_must_be_industry(db):
    profile = make_profile()

    with pytest.raises(IntegrityError):
        db.session.execute(
            text("UPDATE profiles SET affiliation = 'academia' WHERE id = :id"), {"id": profile.id}
        )
    db.session.rollback()


def test_roles_outside_the_vocabulary_are_refused_by_the_database(db):
    user = make_user()

    with pytest.raises(IntegrityError):
        db.session.execute(
            text("UPDATE users SET role = 'superuser' WHERE id = :id"), {"id": user.id}
        )
    db.session.rollback()


@pytest.mark.parametrize(
    ("attribute", "value", "field"),
    [
        ("economy", "Atlantis", "economy"),
        ("affiliation", "wizardry", "affiliation"),
        ("kind", "robot", "kind"),
        ("sectors", ["metal", "alchemy"], "sectors"),
        ("value_chain", ["teleportation"], "value_chain"),
    ],
)
def test_the_model_refuses_values_outside_the_vocabularies(db, attribute, value, field):
    profile = make_profile()

    with pytest.raises(ValidationError) as raised:
        setattr(profile, attribute, value)

    assert raised.value.field == field


def test_the_model_stores_economies_as_alpha_2_codes(db):
    profile = make_profile(economy="viet nam")

    assert profile.economy == "VN"
    assert profile.economy_name == "Viet Nam"


def test_changing_tags_keeps_the_rows_that_stay(db):
    profile = make_profile(sectors=("metal", "energy"))

    profile.sectors = ["energy", "textiles"]
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(Profile, profile.id).sectors == ["energy", "textiles"]


def test_deleting_a_profile_cascades_to_its_evidence_in_the_database(db):
    profile = make_profile(evidence=2)

    db.session.execute(text("DELETE FROM profiles WHERE id = :id"), {"id": profile.id})
    db.session.commit()

    assert db.session.query(EvidenceItem).count() == 0


def test_deleting_an_owner_keeps_the_profile_unowned(db):
    owner = make_user()
    profile = make_profile(owner=owner)

    db.session.delete(owner)
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(Profile, profile.id).owner_id is None
