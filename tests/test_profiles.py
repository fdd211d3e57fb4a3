"""Profiles: creating and editing one's own, evidence, privacy, ownership and browsing."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.profiles import services
from partnermatch.profiles.models import EvidenceItem, Organisation, Profile
from partnermatch.timeutil import utcnow
from tests.factories import make_profile, make_user, profile_form


def profile_count() -> int:
    return db.session.scalar(select(func.count(Profile.id)))


def test_an_sme_creates_its_profile(client, db, login_as):
    user = make_user(Role.SME)
    login_as(user)

    response = client.post("/profiles/new", data=profile_form())

    profile = db.session.scalar(select(Profile))
    assert response.headers["Location"] == f"/profiles/{profile.id}"
    assert profile.owner_id == user.id
    assert profile.kind.value == "sme"
    assert profile.affiliation.value == "industry"
    assert profile.economy == "VN"
    assert profile.sectors == ["metal", "green-vehicles"]
    assert profile.value_chain == ["components"]
    assert profile.keywords == ["cnc", "e-scooter", "hubs"]
    assert profile.languages == ["vi", "en"]
    assert profile.organisation.name == "Saigon Precision Parts Co."
    assert profile.organisation.economy == "VN"


def test_an_expert_chooses_an_affiliation(client, db, login_as):
    login_as(make_user(Role.EXPERT))

    client.post(
        "/profiles/new",
        data=profile_form(
            name="Dr. Aiko Mori", affiliation="academia", organisation_kind="university"
        ),
    )

    profile = db.session.scalar(select(Profile))
    assert profile.kind.value == "expert"
    assert profile.affiliation.value == "academia"


def test_an_sme_cannot_claim_an_academic_affiliation(client, db, login_as):
    login_as(make_user(Role.SME))

    client.post("/profiles/new", data=profile_form(affiliation="academia"))

    assert db.session.scalar(select(Profile)).affiliation.value == "industry"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("economy", "Atlantis", "Unknown economy 'Atlantis'"),
        ("sectors", ["metal", "space-mining"], "'space-mining' is not a valid choice"),
        ("value_chain", ["teleportation"], "'teleportation' is not a valid choice"),
        ("sectors", [], "Choose at least one sector"),
        ("name", "", "This field is required"),
        ("languages", "Klingon", "Unknown language 'Klingon'"),
        ("website", "not a url", "starting with https://"),
    ],
)
def test_an_invalid_profile_re_renders_with_the_message_and_saves_nothing(
    client, db, login_as, field, value, message
):
    login_as(make_user(Role.SME))

    response = client.post("/profiles/new", data=profile_form(**{field: value}))

    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert message in page
    assert 'value="Saigon Precision Parts Co."' in page  # what was typed is kept
    assert profile_count() == 0
    assert db.session.scalar(select(func.count(Organisation.id))) == 0


def test_a_user_keeps_a_single_profile(client, db, login_as):
    user = make_user(Role.SME)
    make_profile(owner=user)
    login_as(user)

    response = client.post("/profiles/new", data=profile_form())

    assert response.status_code == 302
    assert profile_count() == 1


def test_coordinators_keep_no_profile_of_their_own(client, db, login_as):
    login_as(make_user(Role.COORDINATOR))

    assert client.get("/profiles/new").status_code == 403


def test_the_owner_edits_their_profile(client, db, login_as):
    user = make_user(Role.SME)
    profile = make_profile(owner=user)
    login_as(user)

    form = client.get(f"/profiles/{profile.id}/edit").get_data(as_text=True)
    assert 'value="Chinese Taipei"' in form
    client.post(
        f"/profiles/{profile.id}/edit", data=profile_form(name="Renamed Castings", economy="tw")
    )

    db.session.refresh(profile)
    assert profile.name == "Renamed Castings"
    assert profile.economy == "TW"


def test_a_failed_edit_changes_nothing(client, db, login_as):
    user = make_user(Role.SME)
    profile = make_profile(owner=user, name="Original Name")
    login_as(user)

    response = client.post(
        f"/profiles/{profile.id}/edit", data=profile_form(name="New Name", economy="Narnia")
    )

    assert b"Unknown economy" in response.data
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Original Name"


def test_nobody_edits_someone_elses_profile(client, db, login_as):
    profile = make_profile(owner=make_user(Role.SME), name="Owned")
    login_as(make_user(Role.SME))

    assert client.get(f"/profiles/{profile.id}/edit").status_code == 403
    assert (
        client.post(f"/profiles/{profile.id}/edit", data=profile_form(name="Hijacked")).status_code
        == 403
    )
    assert client.post(f"/profiles/{profile.id}/delete").status_code == 403
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Owned"


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
def test_programme_staff_edit_any_profile(client, db, login_as, role):
    profile = make_profile(owner=make_user(Role.SME))
    login_as(make_user(role))

    client.post(f"/profiles/{profile.id}/edit", data=profile_form(name="Fixed by staff"))

    db.session.expire_all()
    assert db.session.get(Profile, profile.id).name == "Fixed by staff"


def test_the_contact_email_is_hidden_from_other_members_and_visitors(client, db, login_as):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, contact_email="secret@castings.example")

    assert b"secret@castings.example" not in client.get(f"/profiles/{profile.id}").data
    login_as(make_user(Role.EXPERT))
    page = client.get(f"/profiles/{profile.id}").data
    assert b"secret@castings.example" not in page
    assert b"shared through an introduction" in page


@pytest.mark.parametrize("role", ["owner", Role.COORDINATOR, Role.ADMIN])
def test_the_contact_email_is_shown_to_the_owner_and_staff(client, db, login_as, role):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, contact_email="secret@castings.example")
    login_as(owner if role == "owner" else make_user(role))

    assert b"secret@castings.example" in client.get(f"/profiles/{profile.id}").data


def test_evidence_is_added_edited_and_removed_by_the_owner(client, db, login_as):
    user = make_user(Role.EXPERT)
    profile = make_profile("expert", owner=user)
    login_as(user)

    client.post(
        f"/profiles/{profile.id}/evidence/new",
        data={
            "kind": "publication",
            "title": "Topology optimisation of cast brackets",
            "year": "2023",
        },
    )
    item = db.session.scalar(select(EvidenceItem))
    assert (item.title, item.year, item.kind.value) == (
        "Topology optimisation of cast brackets",
        2023,
        "publication",
    )

    client.post(
        f"/profiles/{profile.id}/evidence/{item.id}/edit",
        data={"kind": "project", "title": "Lightweight bracket project", "year": ""},
    )
    db.session.refresh(item)
    assert (item.title, item.year, item.kind.value) == (
        "Lightweight bracket project",
        None,
        "project",
    )

    # Removing asks first, on a page of its own (no JavaScript needed)...
    confirm = client.get(f"/profiles/{profile.id}/evidence/{item.id}/delete")
    assert confirm.status_code == 200 and "Remove this evidence" in confirm.get_data(as_text=True)
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 1
    # ...and its POST removes.
    client.post(f"/profiles/{profile.id}/evidence/{item.id}/delete")
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 0


def test_invalid_evidence_re_renders_with_the_message(client, db, login_as):
    user = make_user(Role.EXPERT)
    profile = make_profile("expert", owner=user)
    login_as(user)

    response = client.post(
        f"/profiles/{profile.id}/evidence/new", data={"kind": "rumour", "title": "", "year": "1492"}
    )

    page = response.get_data(as_text=True)
    assert "Not a valid choice" in page
    assert "This field is required" in page
    assert "Give a whole number from 1900 to 2100." in page
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 0


def test_evidence_of_another_profile_is_out_of_reach(client, db, login_as):
    mine = make_profile(owner=(me := make_user(Role.SME)))
    theirs = make_profile(owner=make_user(Role.SME), evidence=1)
    item = theirs.evidence[0]
    login_as(me)

    # Through my own profile's URL the other item does not exist; through theirs I am refused.
    assert client.post(f"/profiles/{mine.id}/evidence/{item.id}/delete").status_code == 404
    assert client.post(f"/profiles/{theirs.id}/evidence/{item.id}/delete").status_code == 403
    assert db.session.get(EvidenceItem, item.id) is not None


def test_deleting_a_profile_asks_first_then_hides_it_until_its_owner_restores_it(
    app, client, db, login_as
):
    user = make_user(Role.EXPERT)
    profile = make_profile("expert", owner=user, name="Dr. Nguyen", evidence=3)
    login_as(user)

    detail = client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert f'href="/profiles/{profile.id}/delete"' in detail  # a link to the question
    confirm = client.get(f"/profiles/{profile.id}/delete").get_data(as_text=True)
    assert "Delete Dr. Nguyen?" in confirm and "restore it for 30 days" in confirm
    assert not db.session.get(Profile, profile.id).is_deleted

    response = client.post(f"/profiles/{profile.id}/delete", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "has been deleted" in page and "Restore this profile" in page
    db.session.expire_all()
    assert db.session.get(Profile, profile.id).is_deleted
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 3
    client.post("/logout")

    # Nobody else finds it: not its page, not browsing, not the API.
    assert app.test_client().get(f"/profiles/{profile.id}").status_code == 404
    assert "Dr. Nguyen" not in app.test_client().get("/profiles/").get_data(as_text=True)

    login_as(user)
    client.post(f"/profiles/{profile.id}/restore")
    db.session.expire_all()
    assert not db.session.get(Profile, profile.id).is_deleted
    assert "Dr. Nguyen" in app.test_client().get("/profiles/").get_data(as_text=True)


def test_coordinators_list_deleted_profiles_and_restore_them(client, db, login_as):
    profile = make_profile(owner=make_user(Role.SME), name="Hanoi Motors")
    make_profile(name="Still Here")
    services.delete_profile(profile)
    db.session.commit()
    login_as(make_user(Role.COORDINATOR))

    page = client.get("/profiles/deleted").get_data(as_text=True)
    assert "Hanoi Motors" in page and "Still Here" not in page
    assert f'action="/profiles/{profile.id}/restore"' in page

    client.post(f"/profiles/{profile.id}/restore")
    db.session.expire_all()
    assert not db.session.get(Profile, profile.id).is_deleted
    assert "No deleted profiles." in client.get("/profiles/deleted").get_data(as_text=True)


def test_a_deleted_profile_is_restored_or_purged_now_by_its_external_id(app, db):
    kept = make_profile(name="Kept", evidence=1)
    gone = make_profile(name="Gone", evidence=1)
    kept.external_id, gone.external_id = "lab-1", "lab-2"
    services.delete_profile(kept)
    services.delete_profile(gone)
    db.session.commit()
    runner = app.test_cli_runner()

    restored = runner.invoke(args=["profiles", "restore", "lab-1"])
    purged = runner.invoke(args=["profiles", "purge-deleted", "--external-id", "lab-2"])
    live = runner.invoke(args=["profiles", "purge-deleted", "--external-id", "lab-1"])

    assert restored.exit_code == 0 and "Restored the profile 'lab-1' (Kept)." in restored.output
    assert purged.exit_code == 0 and "Purged the profile 'lab-2' (Gone)." in purged.output
    assert live.exit_code == 2 and "The profile 'lab-1' is not deleted." in live.output
    assert [(p.name, p.is_deleted) for p in db.session.scalars(select(Profile))] == [
        ("Kept", False)
    ]
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 1


def test_deleted_profiles_are_purged_after_thirty_days(app, db):
    recent, old = make_profile(name="Recent", evidence=1), make_profile(name="Old", evidence=1)
    services.delete_profile(recent)
    services.delete_profile(old)
    old.deleted_at = utcnow() - timedelta(days=31)
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["profiles", "purge-deleted"])

    assert result.exit_code == 0 and "Purged 1 profile" in result.output
    assert [p.name for p in db.session.scalars(select(Profile))] == ["Recent"]
    assert db.session.scalar(select(func.count(EvidenceItem.id))) == 1


def test_browse_filters_by_facets_and_shows_counts(client, db):
    make_profile(name="Hanoi Motors", economy="VN", sectors=("green-vehicles",))
    make_profile(name="Kaohsiung Castings", economy="TW", sectors=("metal",))
    make_profile(
        "expert", name="Dr. Sato", economy="JP", sectors=("metal",), value_chain=("r-and-d",)
    )

    page = client.get("/profiles/?sector=metal").get_data(as_text=True)

    assert "2 profiles" in page
    assert "Kaohsiung Castings" in page and "Dr. Sato" in page
    assert "Hanoi Motors" not in page
    # The sector facet still counts the green-vehicles profile so the user can switch to it.
    assert 'value="green-vehicles" > Green vehicles <span class="count">1</span>' in " ".join(
        page.split()
    )

    only_experts = client.get("/profiles/?sector=metal&kind=expert&economy=JP").get_data(
        as_text=True
    )
    assert "1 profile" in only_experts and "Dr. Sato" in only_experts


def test_browse_text_filter_searches_names_and_descriptions(client, db):
    make_profile(name="Andes Copper Foundry", summary="Copper alloy castings.", economy="CL")
    make_profile(name="Busan Chargers", summary="EV charger enclosures.", economy="KR")

    page = client.get("/profiles/?q=copper").get_data(as_text=True)

    assert "Andes Copper Foundry" in page and "Busan Chargers" not in page


def test_browse_paginates(client, db):
    for number in range(7):
        make_profile(name=f"Company {number}")

    first = client.get("/profiles/").get_data(as_text=True)
    second = client.get("/profiles/?page=2").get_data(as_text=True)

    assert "7 profiles" in first and "page 1 of 2" in first
    assert first.count('class="profile-card"') == 5
    assert second.count('class="profile-card"') == 2
    assert 'rel="next"' in first and 'rel="prev"' in second


@pytest.mark.parametrize(
    ("query", "message"),
    [("", "No profiles yet"), ("?q=nothing-matches-this", "No profile matches these filters")],
)
def test_browse_explains_an_empty_result(client, db, query, message):
    assert message in client.get(f"/profiles/{query}").get_data(as_text=True)


def test_browse_survives_hand_edited_urls(client, db):
    make_profile(name="Kaohsiung Castings")

    response = client.get("/profiles/?sector=not-a-sector&page=-3&kind=robot")

    assert response.status_code == 200
    assert "Kaohsiung Castings" in response.get_data(as_text=True)


def test_unknown_profile_gets_the_404_page(client, db):
    response = client.get("/profiles/9999")

    assert response.status_code == 404
    assert b"Page not found" in response.data


DECHNOLOGY = "“Dechnology” is the APEC forum's word for design + technology."


def test_dechnology_is_explained_wherever_the_design_position_shows(client, db, login_as):
    profile = make_profile(name="Lantern Lane Design", value_chain=["design"])
    detail = html.unescape(client.get(f"/profiles/{profile.id}").get_data(as_text=True))
    browse = html.unescape(client.get("/profiles/").get_data(as_text=True))
    form = html.unescape(login_as(make_user(Role.SME)).get("/profiles/new").get_data(as_text=True))

    assert f'<abbr title="{DECHNOLOGY}">Design and dechnology</abbr>' in detail
    # The lists of positions say it once, beside the list.
    assert browse.count(DECHNOLOGY) == 1 + browse.count(f'<abbr title="{DECHNOLOGY}">')
    assert f'<p class="help">{DECHNOLOGY}</p>' in browse
    assert form.count(DECHNOLOGY) == 1


def test_dechnology_is_explained_in_the_readers_language(client, db):
    profile = make_profile(name="Lantern Lane Design", value_chain=["design"])

    page = client.get(f"/profiles/{profile.id}", headers={"Accept-Language": "es"})

    assert "«Dechnology» es la palabra del foro de APEC para diseño + tecnología." in (
        html.unescape(page.get_data(as_text=True))
    )
