"""The introduction workflow: request, review, consent, contacts, outcomes and the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from partnermatch.auth.models import Role
from partnermatch.extensions import db
from partnermatch.review import services
from partnermatch.review.models import Match, MatchEvent, MatchOrigin, MatchState, Response
from partnermatch.review.services import TransitionError
from tests.factories import make_profile, make_user

pytestmark = pytest.mark.postgres  # also run on PostgreSQL (see conftest)


@pytest.fixture
def people(db):
    sme_user = make_user(Role.SME, email="sme@castings.example")
    expert_user = make_user(Role.EXPERT, email="expert@lab.example")
    return {
        "sme": sme_user,
        "sme_profile": make_profile(
            owner=sme_user, name="Kaohsiung Castings", contact_email="sales@castings.example"
        ),
        "expert": expert_user,
        "expert_profile": make_profile(
            "expert",
            owner=expert_user,
            name="Dr. Sato",
            economy="JP",
            contact_email="sato@lab.example",
        ),
        "coordinator": make_user(Role.COORDINATOR),
        "outsider": make_user(Role.SME),
    }


def new_match(people, state=MatchState.SUGGESTED) -> Match:
    match = services.request_introduction(people["sme"], people["expert_profile"], "Let's meet.")
    match.state = state
    if state in (MatchState.INTRODUCED, MatchState.MEETING_HELD):
        match.sme_response = match.partner_response = Response.ACCEPTED
    db.session.commit()
    return match


STEPS = {
    "approve": lambda match, actor: services.approve(match, actor),
    "reject": lambda match, actor: services.reject(match, actor),
    "accept": lambda match, actor: services.respond(match, actor, True),
    "meeting": lambda match, actor: services.record_outcome(match, actor, "meeting_held"),
    "partnership": lambda match, actor: services.record_outcome(match, actor, "partnership_formed"),
}
# (step, state, actor) -> the state after a legal step; anything not listed must be refused.
# A party's outcome is its answer: alone it says at most that the two met (see
# services.combined_outcome); a coordinator's outcome sets the state.
LEGAL = {
    ("approve", MatchState.SUGGESTED, "coordinator"): MatchState.APPROVED,
    ("reject", MatchState.SUGGESTED, "coordinator"): MatchState.REJECTED,
    ("accept", MatchState.APPROVED, "sme"): MatchState.APPROVED,
    ("accept", MatchState.APPROVED, "expert"): MatchState.APPROVED,
    ("meeting", MatchState.INTRODUCED, "coordinator"): MatchState.MEETING_HELD,
    ("partnership", MatchState.INTRODUCED, "coordinator"): MatchState.PARTNERSHIP_FORMED,
    ("partnership", MatchState.MEETING_HELD, "coordinator"): MatchState.PARTNERSHIP_FORMED,
    **{
        (step, state, actor): MatchState.MEETING_HELD
        for step in ("meeting", "partnership")
        for state in (MatchState.INTRODUCED, MatchState.MEETING_HELD)
        for actor in ("sme", "expert")
    },
}


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("state", list(MatchState))
@pytest.mark.parametrize("actor", ["sme", "expert", "coordinator", "outsider"])
def test_every_transition_checks_the_state_and_the_actor(people, step, state, actor):
    match = new_match(people, state)
    events_before = len(match.events)

    expected = LEGAL.get((step, state, actor))
    if expected is None:
        with pytest.raises(TransitionError):
            STEPS[step](match, people[actor])
        db.session.rollback()
        db.session.refresh(match)
        assert match.state is state
        assert len(match.events) == events_before
    else:
        STEPS[step](match, people[actor])
        db.session.commit()
        assert match.state is expected
        assert match.events[-1].actor_id == people[actor].id
        assert match.events[-1].to_state == expected.value


def test_the_whole_journey_in_the_browser(app, people, login_as):
    client = app.test_client()
    expert_id = people["expert_profile"].id

    login_as(people["sme"]).post(
        f"/profiles/{expert_id}/introduction", data={"note": "Lighter housings?"}
    )
    match = db.session.scalar(select(Match))
    assert (match.state, match.origin) == (MatchState.SUGGESTED, MatchOrigin.REQUESTED)
    client.post("/logout")

    login_as(people["coordinator"])
    assert "Kaohsiung Castings" in client.get("/review/").get_data(as_text=True)
    client.post(f"/matches/{match.id}/approve", data={"note": "Good fit."})
    client.post("/logout")

    login_as(people["expert"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert (
        "sales@castings.example" not in page
        and "Contact details are shared once both sides accept" in page
    )
    client.post(f"/matches/{match.id}/respond", data={"decision": "accept", "reason": "Happy to."})
    assert "sales@castings.example" not in client.get(f"/matches/{match.id}").get_data(as_text=True)
    client.post("/logout")

    login_as(people["sme"])
    client.post(f"/matches/{match.id}/respond", data={"decision": "accept"})
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "Introduced" in page and "sato@lab.example" in page
    client.post(
        f"/matches/{match.id}/outcome", data={"outcome": "partnership_formed", "note": "Signed."}
    )
    db.session.refresh(match)
    assert match.state is MatchState.MEETING_HELD  # until the expert says so too
    client.post("/logout")

    login_as(people["expert"])
    client.post(f"/matches/{match.id}/outcome", data={"outcome": "partnership_formed"})
    db.session.refresh(match)
    assert match.state is MatchState.PARTNERSHIP_FORMED
    assert [event.action for event in match.events] == [
        "request",
        "approve",
        "accept",
        "accept",
        "outcome sme: partnership_formed",
        "outcome partner: partnership_formed",
    ]
    assert "Partnership formed" in client.get("/introductions").get_data(as_text=True)


def test_a_decline_closes_the_match_and_the_pair_is_not_requested_again(people):
    match = new_match(people)
    services.approve(match, people["coordinator"])
    services.respond(match, people["expert"], False, "No capacity this year.")
    db.session.commit()

    assert match.state is MatchState.DECLINED
    assert match.events[-1].note == "No capacity this year."
    with pytest.raises(TransitionError, match="was not approved or was declined before"):
        services.request_introduction(people["sme"], people["expert_profile"])


def test_one_open_match_per_pair(people):
    new_match(people)

    with pytest.raises(TransitionError, match="already have a match"):
        services.request_introduction(people["sme"], people["expert_profile"])
    duplicate = Match(
        sme_profile_id=people["sme_profile"].id,
        partner_profile_id=people["expert_profile"].id,
        origin=MatchOrigin.SUGGESTED,
    )
    db.session.add(duplicate)
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_closed_pair_may_be_matched_again_by_the_schema(people):
    match = new_match(people)
    services.reject(match, people["coordinator"])
    db.session.add(
        Match(
            sme_profile_id=people["sme_profile"].id,
            partner_profile_id=people["expert_profile"].id,
            origin=MatchOrigin.SUGGESTED,
        )
    )
    db.session.commit()

    assert db.session.scalar(select(func.count(Match.id))) == 2


def test_a_coordinator_answers_for_a_party_without_an_account(people):
    unowned = make_profile("expert", name="Imported Lab", economy="KR")
    match = services.request_introduction(people["sme"], unowned)
    services.approve(match, people["coordinator"])
    services.respond(match, people["sme"], True)

    services.respond(match, people["coordinator"], True, "Confirmed by phone.")
    db.session.commit()

    assert match.state is MatchState.INTRODUCED
    assert match.events[-1].action == "accept (on behalf of the partner)"


def test_a_coordinator_cannot_answer_for_a_party_with_an_account(people):
    match = new_match(people, MatchState.APPROVED)

    with pytest.raises(TransitionError, match="Only the two parties"):
        services.respond(match, people["coordinator"], True, side="partner")


def test_only_smes_with_a_profile_ask_for_introductions(people):
    with pytest.raises(TransitionError, match="Only an SME with a profile"):
        services.request_introduction(people["expert"], people["sme_profile"])
    with pytest.raises(TransitionError, match="Only an SME with a profile"):
        services.request_introduction(people["outsider"], people["expert_profile"])
    with pytest.raises(TransitionError, match="yourself"):
        services.request_introduction(people["sme"], people["sme_profile"])


def test_outsiders_cannot_see_a_match(app, people, login_as):
    match = new_match(people)
    client = login_as(people["outsider"])

    assert client.get(f"/matches/{match.id}").status_code == 404
    assert (
        client.post(f"/matches/{match.id}/respond", data={"decision": "accept"}).status_code == 404
    )
    assert client.get("/review/").status_code == 403


def test_illegal_steps_in_the_browser_explain_themselves(app, people, login_as):
    match = new_match(people)
    client = login_as(people["sme"])

    response = client.post(f"/matches/{match.id}/approve", follow_redirects=True)

    assert response.status_code == 403
    response = client.post(
        f"/matches/{match.id}/respond", data={"decision": "accept"}, follow_redirects=True
    )
    assert "it cannot be answered now" in response.get_data(as_text=True)
    db.session.refresh(match)
    assert match.state is MatchState.SUGGESTED


def test_a_refused_step_is_explained_in_the_readers_language(app, people, login_as):
    match = new_match(people)
    people["sme"].locale = "es"
    db.session.commit()
    client = login_as(people["sme"])

    response = client.post(
        f"/matches/{match.id}/respond", data={"decision": "accept"}, follow_redirects=True
    )

    assert (
        "Esta coincidencia está en la etapa «A la espera de revisión»: no se puede responder ahora."
    ) in response.get_data(as_text=True)


def test_a_second_request_for_the_same_pair_is_refused_in_the_readers_language(
    app, people, login_as
):
    new_match(people)
    people["sme"].locale = "vi"
    db.session.commit()
    client = login_as(people["sme"])

    response = client.post(
        f"/profiles/{people['expert_profile'].id}/introduction",
        data={"note": "Again."},
        follow_redirects=True,
    )

    assert "Bạn đã có một kết nối với Dr. Sato (giai đoạn: Đang chờ xét duyệt)." in (
        response.get_data(as_text=True)
    )


def test_bulk_review_approves_the_selected_matches(app, people, login_as):
    other_expert = make_profile("expert", name="Prof. Kim", economy="KR")
    first = new_match(people)
    second = services.request_introduction(people["sme"], other_expert)
    db.session.commit()
    client = login_as(people["coordinator"])

    response = client.post(
        "/review/bulk",
        data={"match_ids": [first.id, second.id], "action": "approve"},
        follow_redirects=True,
    )

    assert "2 matches approved." in response.get_data(as_text=True)
    assert {m.state for m in db.session.scalars(select(Match))} == {MatchState.APPROVED}
    assert (
        db.session.scalar(select(func.count(MatchEvent.id)).where(MatchEvent.action == "approve"))
        == 2
    )


def test_the_request_stores_why_this_match_when_the_index_is_ready(app, people, login_as):
    from partnermatch.matching.extension import get_engine

    get_engine().rebuild()
    login_as(people["sme"]).post(f"/profiles/{people['expert_profile'].id}/introduction", data={})

    match = db.session.scalar(select(Match))
    assert match.score is not None
    assert [factor["feature"] for factor in match.factors][:2] == ["need", "mutual"]
    # stored for staff to read, so named, not "your needs"
    assert match.factors[0]["label"] == "Kaohsiung Castings's needs ↔ Dr. Sato's offers"


def test_the_review_queue_filters_by_origin_economy_and_sector(app, people, login_as):
    new_match(people)  # requested by the TW metal SME
    other_sme = make_user(Role.SME)
    make_profile(owner=other_sme, name="Hanoi Textiles", economy="VN", sectors=("textiles",))
    services.request_introduction(other_sme, people["expert_profile"])
    db.session.commit()
    client = login_as(people["coordinator"])

    def listed(**query) -> set[str]:
        page = client.get("/review/", query_string=query).get_data(as_text=True)
        return {name for name in ("Kaohsiung Castings", "Hanoi Textiles") if name in page}

    assert listed() == {"Kaohsiung Castings", "Hanoi Textiles"}
    assert listed(economy="VN") == {"Hanoi Textiles"}
    assert listed(sector="metal") == {"Kaohsiung Castings"}
    assert listed(origin="suggested") == set()
    assert listed(origin="requested", economy="TW") == {"Kaohsiung Castings"}
    assert client.get("/review/", query_string={"economy": "ZZ"}).status_code == 200


def test_the_queue_economy_filter_leads_with_the_programmes_economies(app, people, login_as):
    from partnermatch.profiles.services import delete_profile

    delete_profile(make_profile(name="Gone Chile", economy="CL"))
    db.session.commit()

    page = login_as(people["coordinator"]).get("/review/").get_data(as_text=True)

    select = page.split('name="economy"')[1].split("</select>")[0]
    ours = select.split('<optgroup label="Economies in the programme">')[1].split("</optgroup>")[0]
    others = select.split('<optgroup label="Other economies">')[1]
    assert select.index('value=""') < select.index("<optgroup")  # "Any economy" leads
    assert 'value="TW"' in ours and 'value="JP"' in ours
    assert 'value="CL"' not in ours and 'value="CL"' in others  # a deleted profile's
    assert 'value="FR"' in others and 'value="TW"' not in others


def test_every_match_of_the_page_can_be_selected_at_once_without_javascript(app, people, login_as):
    new_match(people)
    other_sme = make_user(Role.SME)
    make_profile(owner=other_sme, name="Hanoi Textiles", economy="VN")
    services.request_introduction(other_sme, people["expert_profile"])
    db.session.commit()
    client = login_as(people["coordinator"])

    plain = client.get("/review/").get_data(as_text=True)
    all_ticked = client.get("/review/?select=all").get_data(as_text=True)

    def ticked(page: str) -> int:
        boxes = [tag for tag in page.split("<input")[1:] if 'name="match_ids"' in tag]
        assert len(boxes) == 2
        return sum(" checked" in tag.split(">")[0] for tag in boxes)

    assert "Select all on this page" in plain and 'href="/review/?select=all"' in plain
    assert ticked(plain) == 0
    assert ticked(all_ticked) == 2 and "Clear the selection" in all_ticked
    assert "js/select-all.js" in plain


def test_a_party_without_a_contact_email_cannot_accept_and_is_told_how_to_fix_it(
    app, people, login_as
):
    people["expert_profile"].contact_email = ""
    match = new_match(people)
    services.approve(match, people["coordinator"])
    db.session.commit()
    with pytest.raises(TransitionError, match="contact email"):
        services.respond(match, people["expert"], True)
    db.session.rollback()

    client = login_as(people["expert"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)
    edit_link = f"/profiles/{people['expert_profile'].id}/edit#contact_email"
    assert "add a contact email to the profile of Dr. Sato" in page and edit_link in page
    response = client.post(
        f"/matches/{match.id}/respond", data={"decision": "accept"}, follow_redirects=True
    )
    assert "Add a contact email to the profile of Dr. Sato" in response.get_data(as_text=True)
    db.session.refresh(match)
    assert match.partner_response is Response.PENDING
    client.post(f"/matches/{match.id}/respond", data={"decision": "decline"})
    db.session.refresh(match)
    assert match.state is MatchState.DECLINED  # declining needs no email


def test_a_new_profile_offers_the_account_email_as_its_contact(app, login_as):
    user = make_user(Role.EXPERT, email="kim@institute.example")
    page = login_as(user).get("/profiles/new").get_data(as_text=True)
    assert 'value="kim@institute.example"' in page


def test_an_unreviewed_cohort_suggestion_is_not_on_the_smes_introductions(app, people, login_as):
    match = Match(
        sme=people["sme_profile"], partner=people["expert_profile"], origin=MatchOrigin.SUGGESTED
    )
    db.session.add(match)
    db.session.commit()

    page = login_as(people["sme"]).get("/introductions").get_data(as_text=True)

    assert "Dr. Sato" not in page and "Requests waiting for a coordinator" not in page


# (SME's answer, partner's answer, coordinator's outcome) -> the match's state; see the
# table in the README (Introductions).
M, P, N = "meeting_held", "partnership_formed", "no_fit"
COMBINED = {
    (None, None, None): MatchState.INTRODUCED,
    (N, None, None): MatchState.INTRODUCED,
    (None, N, None): MatchState.INTRODUCED,
    (M, None, None): MatchState.MEETING_HELD,
    (None, P, None): MatchState.MEETING_HELD,
    (M, M, None): MatchState.MEETING_HELD,
    (P, P, None): MatchState.PARTNERSHIP_FORMED,
    (N, N, None): MatchState.NO_FIT,
    (P, N, None): MatchState.MEETING_HELD,
    (N, M, None): MatchState.MEETING_HELD,
    (None, None, M): MatchState.MEETING_HELD,
    (N, None, M): MatchState.MEETING_HELD,
    (P, P, M): MatchState.PARTNERSHIP_FORMED,
    (N, N, M): MatchState.NO_FIT,
    (P, P, N): MatchState.NO_FIT,
    (None, None, P): MatchState.PARTNERSHIP_FORMED,
    (N, M, P): MatchState.PARTNERSHIP_FORMED,
}


@pytest.mark.parametrize(("answers", "expected"), list(COMBINED.items()))
def test_the_state_combines_both_parties_answers_and_the_coordinators(people, answers, expected):
    match = new_match(people, MatchState.INTRODUCED)
    match.sme_outcome, match.partner_outcome, match.staff_outcome = answers

    assert services.combined_outcome(match) is expected


def test_a_partys_answer_alone_decides_when_the_other_side_has_no_account(people):
    unowned = make_profile("expert", name="Imported Lab", economy="KR")
    match = services.request_introduction(people["sme"], unowned)
    match.state = MatchState.INTRODUCED
    db.session.commit()

    services.record_outcome(match, people["sme"], "no_fit", "Different tolerances.")
    db.session.commit()

    assert match.state is MatchState.NO_FIT
    assert match.events[-1].action == "outcome sme: no_fit"


def test_a_party_may_change_its_answer_while_the_match_is_open(people):
    match = new_match(people, MatchState.INTRODUCED)

    services.record_outcome(match, people["sme"], "meeting_held")
    services.record_outcome(match, people["sme"], "no_fit")
    db.session.commit()
    assert (match.sme_outcome, match.state) == ("no_fit", MatchState.INTRODUCED)

    services.record_outcome(match, people["expert"], "no_fit")
    db.session.commit()
    assert match.state is MatchState.NO_FIT
    with pytest.raises(TransitionError, match="cannot be recorded"):
        services.record_outcome(match, people["sme"], "partnership_formed")


def test_a_coordinators_meeting_held_leaves_the_closing_answer_to_the_parties(people):
    match = new_match(people, MatchState.INTRODUCED)
    services.record_outcome(match, people["coordinator"], "meeting_held")
    services.record_outcome(match, people["sme"], "partnership_formed")
    db.session.commit()
    assert match.state is MatchState.MEETING_HELD

    services.record_outcome(match, people["expert"], "partnership_formed")
    db.session.commit()

    assert match.state is MatchState.PARTNERSHIP_FORMED


def test_one_partys_answer_asks_the_other_for_theirs(people):
    from partnermatch.notifications.models import Notification

    match = new_match(people, MatchState.INTRODUCED)

    services.record_outcome(match, people["sme"], "partnership_formed")
    db.session.commit()

    def told(user) -> list[str]:
        return [
            n.text
            for n in db.session.scalars(select(Notification).where(Notification.user_id == user.id))
        ]

    assert told(people["expert"]) == [
        "Kaohsiung Castings says the introduction between Kaohsiung Castings and Dr. Sato "
        "went: Partnership formed. Please record how it went for you."
    ]
    assert told(people["coordinator"])[-1] == "Kaohsiung Castings and Dr. Sato: Meeting held."


def test_each_party_sees_both_answers_and_answers_for_itself_on_the_page(app, people, login_as):
    match = new_match(people, MatchState.INTRODUCED)
    services.record_outcome(match, people["sme"], "partnership_formed")
    db.session.commit()

    client = login_as(people["expert"])
    page = client.get(f"/matches/{match.id}").get_data(as_text=True)

    assert "How did it go for you?" in page
    assert "How it went, in their words: <strong>Partnership formed</strong>" in page
    assert "How it went, in their words: <strong>not answered yet</strong>" in page
    assert "answered how it went: Partnership formed" in page  # the history says whose word
    assert "How did these introductions go?" in client.get("/introductions").get_data(as_text=True)
    assert services.outcome_waiting_for(people["expert"]) == [match]
    assert services.outcome_waiting_for(people["sme"]) == []
