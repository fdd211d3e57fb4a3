"""Feedback after a meeting: both parties answer once it has ended; the answers move the
pair's introduction, and the dashboard and the API count them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role, User
from partnermatch.auth.tokens import create_token
from partnermatch.dashboard import services as dashboard
from partnermatch.events import feedback, participation
from partnermatch.events.models import (
    AgendaState,
    Event,
    Meeting,
    MeetingFeedback,
    MeetingState,
    NextStep,
)
from partnermatch.events.participation import EventError
from partnermatch.extensions import db
from partnermatch.review import services as review
from partnermatch.review.models import Match, MatchState
from partnermatch.timeutil import utcnow
from tests.factories import make_user
from tests.test_event_participation import make_event, page_text, registered


@pytest.fixture
def met(db):
    """A Vietnamese SME and a Japanese lab met an hour ago; a second meeting is tomorrow."""
    event = make_event(name="Kaohsiung Forum")
    sme_user, sme = registered(
        event, name="Hanoi Castings", economy="VN", value_chain=("processing",)
    )
    lab_user, lab = registered(
        event, "expert", name="Osaka Materials Lab", economy="JP", value_chain=("testing",)
    )
    _user, later = registered(event, "expert", name="Later Lab", economy="KR")
    past = Meeting(
        event_id=event.id,
        first=sme,
        second=lab,
        slot_start=utcnow() - timedelta(hours=1),
        table_number=3,
        state=MeetingState.PUBLISHED,
    )
    upcoming = Meeting(
        event_id=event.id,
        first=sme,
        second=later,
        slot_start=utcnow() + timedelta(days=1),
        table_number=4,
        state=MeetingState.PUBLISHED,
    )
    db.session.add_all([past, upcoming])
    db.session.commit()
    return {
        "event": event,
        "sme_user": sme_user,
        "sme": sme,
        "lab_user": lab_user,
        "lab": lab,
        "past": past,
        "upcoming": upcoming,
    }


def feedback_url(met, participant, meeting) -> str:
    return f"/events/{met['event'].id}/participants/{participant.id}/meetings/{meeting.id}/feedback"


def answer_both(met, sme_step: str, lab_step: str) -> None:
    feedback.give_feedback(met["past"], met["sme"], "yes", sme_step, "", met["sme_user"])
    feedback.give_feedback(met["past"], met["lab"], "partly", lab_step, "", met["lab_user"])
    db.session.commit()


def introduce(met) -> Match:
    coordinator = make_user(Role.COORDINATOR)
    match = review.request_introduction(met["sme_user"], met["lab"].profile)
    review.approve(match, coordinator)
    review.respond(match, met["lab_user"], True)
    review.respond(match, met["sme_user"], True)
    db.session.commit()
    assert match.state is MatchState.INTRODUCED
    return match


# --- giving feedback -------------------------------------------------------------------------


def test_the_agenda_offers_feedback_only_once_a_meeting_has_ended(met, login_as):
    client = login_as(met["sme_user"])

    text = page_text(client.get(f"/events/{met['event'].id}/participants/{met['sme'].id}/agenda"))

    assert text.count("Give feedback") == 1
    assert feedback_url(met, met["sme"], met["past"]) in text
    assert feedback_url(met, met["sme"], met["upcoming"]) not in text
    assert "after the meeting" in text


def test_coordinators_are_not_offered_feedback_for_a_member(met, login_as):
    client = login_as(make_user(Role.COORDINATOR))

    text = page_text(client.get(f"/events/{met['event'].id}/participants/{met['sme'].id}/agenda"))

    assert "Hanoi Castings" in text and "Give feedback" not in text


def test_a_party_answers_both_questions_and_sees_its_answers_on_the_agenda(met, login_as):
    client = login_as(met["sme_user"])

    response = client.post(
        feedback_url(met, met["sme"], met["past"]),
        data={"useful": "yes", "next_step": "partnership", "note": "Send the drawings."},
    )

    assert response.status_code == 302
    row = db.session.scalars(select(MeetingFeedback)).one()
    assert (row.useful.value, row.next_step.value, row.note) == (
        "yes",
        "partnership",
        "Send the drawings.",
    )
    agenda = page_text(client.get(response.headers["Location"]))
    assert "Useful · A partnership discussion" in agenda and "Give feedback" not in agenda


def test_a_party_changes_its_answers_and_still_has_one_row(met, login_as):
    client = login_as(met["sme_user"])
    url = feedback_url(met, met["sme"], met["past"])
    client.post(url, data={"useful": "yes", "next_step": "partnership"})

    form = page_text(client.get(url))
    client.post(url, data={"useful": "no", "next_step": "no_fit"})

    assert re.search(r'<input checked[^>]*value="partnership"', form)
    row = db.session.scalars(select(MeetingFeedback)).one()
    assert (row.useful.value, row.next_step.value) == ("no", "no_fit")


def test_feedback_before_the_end_is_refused_and_nothing_is_stored(met, login_as):
    client = login_as(met["sme_user"])

    response = client.post(
        feedback_url(met, met["sme"], met["upcoming"]),
        data={"useful": "yes", "next_step": "partnership"},
    )

    assert response.status_code == 400
    assert "Feedback opens once the meeting has ended." in page_text(response)
    assert db.session.scalars(select(MeetingFeedback)).all() == []


def test_only_the_two_parties_answer(met):
    outsider_user, outsider = registered(met["event"], name="Outsider")

    with pytest.raises(EventError, match="Only the two parties"):
        feedback.give_feedback(met["past"], outsider, "yes", "partnership", "", outsider_user)
    with pytest.raises(EventError, match="Only the two parties"):
        feedback.give_feedback(met["past"], met["lab"], "yes", "partnership", "", met["sme_user"])


def test_another_member_cannot_open_a_partys_feedback_page(met, login_as):
    client = login_as(make_user(Role.SME))

    assert client.get(feedback_url(met, met["sme"], met["past"])).status_code == 403


def test_a_no_show_or_cancelled_meeting_takes_no_feedback(met):
    met["past"].no_show = True
    with pytest.raises(EventError, match="no-show"):
        feedback.give_feedback(met["past"], met["sme"], "yes", "partnership", "", met["sme_user"])
    met["past"].no_show, met["past"].cancelled = False, True
    with pytest.raises(EventError, match="not on the published agenda"):
        feedback.give_feedback(met["past"], met["sme"], "yes", "partnership", "", met["sme_user"])


def test_staff_see_both_parties_answers(met, login_as):
    answer_both(met, "partnership", "another_meeting")
    client = login_as(make_user(Role.COORDINATOR))

    listing = page_text(client.get(f"/events/{met['event'].id}/feedback"))
    page = page_text(client.get(feedback_url(met, met["sme"], met["past"])))

    assert "Hanoi Castings" in listing and "Osaka Materials Lab" in listing
    assert "A partnership discussion" in listing and "Another meeting" in listing
    assert "Osaka Materials Lab's answers" in page and "Partly useful" in page


# --- what the answers feed -------------------------------------------------------------------


def test_two_answers_move_the_pairs_introduction_to_meeting_held(met):
    match = introduce(met)

    feedback.give_feedback(met["past"], met["sme"], "yes", "partnership", "", met["sme_user"])
    assert match.state is MatchState.INTRODUCED  # one answer is not an outcome yet
    feedback.give_feedback(met["past"], met["lab"], "yes", "partnership", "", met["lab_user"])

    assert match.state is MatchState.MEETING_HELD
    assert match.events[-1].note == "Met at Kaohsiung Forum: partnership"


def test_both_saying_no_fit_closes_the_introduction(met):
    match = introduce(met)

    answer_both(met, "no_fit", "no_fit")

    assert match.state is MatchState.NO_FIT


def test_a_meeting_without_an_introduction_creates_no_match_but_counts_as_a_follow_up(met):
    answer_both(met, "partnership", "partnership")

    figures = feedback.figures(feedback.held_meetings(met["event"].id))

    assert db.session.scalars(select(Match)).all() == []
    assert figures.follow_ups == {"partnership": 1, "another_meeting": 0, "no_fit": 0}
    assert (figures.meetings, figures.answered, figures.both_answered) == (1, 1, 1)
    assert figures.next_steps[NextStep.PARTNERSHIP] == 2


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (("partnership", "partnership"), "partnership"),
        (("partnership", "another_meeting"), "another_meeting"),
        (("another_meeting", "no_fit"), "another_meeting"),
        (("no_fit", "no_fit"), "no_fit"),
    ],
)
def test_what_two_answers_mean_together(steps, expected):
    answers = [MeetingFeedback(next_step=NextStep(step)) for step in steps]

    assert feedback.follow_up(answers) == expected
    assert feedback.follow_up(answers[:1]) is None


def test_the_dashboard_counts_meetings_by_economy_pair_and_position_per_event(met, login_as):
    answer_both(met, "partnership", "another_meeting")
    other = make_event(name="Other Forum")

    figures = dashboard.event_meetings(met["event"].id)
    page = page_text(
        login_as(make_user(Role.COORDINATOR)).get(f"/dashboard/?event={met['event'].id}")
    )

    assert figures.meetings == 2  # the one held and the one tomorrow
    assert ("JP", "VN", 1) in figures.economy_pairs
    assert {row.code: row.meetings for row in figures.positions}["testing"] == 1
    assert figures.feedback.answered == 1
    assert dashboard.event_meetings(other.id).meetings == 0
    assert "Meetings at events" in page and "Viet Nam" in page
    assert f'<option value="{met["event"].id}" selected>' in page


def test_the_meetings_by_economy_pair_download_as_csv(met, login_as):
    client = login_as(make_user(Role.COORDINATOR))

    body = client.get(f"/dashboard/event-meetings.csv?event={met['event'].id}")

    assert body.mimetype == "text/csv"
    assert body.get_data(as_text=True).splitlines() == [
        "economy,other_economy,meetings",
        "Japan,Viet Nam,1",
        "Republic of Korea,Viet Nam,1",
    ]


# --- the API ---------------------------------------------------------------------------------


def api(client, token_user):
    _token, secret = create_token(token_user, "test")
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_takes_a_partys_answers_and_shows_them(met, client):
    headers = api(client, met["sme_user"])
    url = f"/api/v1/events/{met['event'].id}/meetings/{met['past'].id}/feedback"

    created = client.post(url, json={"useful": "yes", "next_step": "partnership"}, headers=headers)
    changed = client.post(url, json={"useful": "partly", "next_step": "no_fit"}, headers=headers)
    shown = client.get(url, headers=headers)

    assert created.status_code == 201 and changed.status_code == 200
    assert shown.get_json()["feedback"] == [
        {
            "participant_id": met["sme"].id,
            "useful": "partly",
            "next_step": "no_fit",
            "note": "",
            "updated_at": shown.get_json()["feedback"][0]["updated_at"],
        }
    ]


def test_the_api_refuses_bad_answers_strangers_and_early_feedback(met, client):
    headers = api(client, met["sme_user"])
    base = f"/api/v1/events/{met['event'].id}/meetings"

    bad = client.post(
        f"{base}/{met['past'].id}/feedback",
        json={"useful": "maybe", "next_step": "partnership"},
        headers=headers,
    )
    early = client.post(
        f"{base}/{met['upcoming'].id}/feedback",
        json={"useful": "yes", "next_step": "partnership"},
        headers=headers,
    )
    stranger = client.get(
        f"{base}/{met['past'].id}/feedback", headers=api(client, make_user(Role.SME))
    )

    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "useful"
    assert early.status_code == 422 and "ended" in early.get_json()["error"]["message"]
    assert stranger.status_code == 404
    assert db.session.scalars(select(MeetingFeedback)).all() == []


def test_staff_answer_for_a_profile_without_an_account_and_see_both_answers(met, client):
    unowned = met["lab"].profile
    unowned.owner_id = None
    db.session.commit()
    feedback.give_feedback(met["past"], met["sme"], "yes", "partnership", "", met["sme_user"])
    db.session.commit()
    headers = api(client, make_user(Role.COORDINATOR))
    url = f"/api/v1/events/{met['event'].id}/meetings/{met['past'].id}/feedback"

    for_the_sme = client.post(
        url,
        json={"useful": "no", "next_step": "no_fit", "participant_id": met["sme"].id},
        headers=headers,
    )
    for_the_lab = client.post(
        url,
        json={"useful": "partly", "next_step": "another_meeting", "note": "Send samples."},
        headers=headers,
    )
    shown = client.get(url, headers=headers).get_json()["feedback"]

    assert for_the_sme.status_code == 404  # the SME answers for itself
    assert for_the_lab.status_code == 201
    assert [(row["participant_id"], row["next_step"]) for row in shown] == [
        (met["sme"].id, "partnership"),
        (met["lab"].id, "another_meeting"),
    ]


# --- the demo's past edition -----------------------------------------------------------------


def test_the_demo_holds_last_years_forum_with_feedback_the_dashboard_shows(app, db, login_as):
    from partnermatch.demo import load_demo
    from partnermatch.demo.forum import FORUM_NAME, PAST_FORUM_NAME

    report = load_demo(app.config["DEMO_PASSWORD"])
    db.session.commit()
    again = load_demo(app.config["DEMO_PASSWORD"])
    db.session.commit()
    past = db.session.scalars(select(Event).where(Event.name == PAST_FORUM_NAME)).one()
    this_year = db.session.scalars(select(Event).where(Event.name == FORUM_NAME)).one()
    coordinator = db.session.scalars(
        select(User).where(User.email == "coordinator@example.org")
    ).one()
    client = login_as(coordinator, app.config["DEMO_PASSWORD"])
    page = page_text(client.get(f"/dashboard/?event={past.id}"))
    figures = dashboard.event_meetings(past.id).feedback
    rows = db.session.scalars(select(Meeting).where(Meeting.event_id == past.id)).all()

    assert report.past_forum_created and not again.past_forum_created
    assert past.last_day < utcnow().date() < this_year.first_day
    assert past.agenda is AgendaState.FINAL and past.venue == this_year.venue
    assert len(rows) == 10
    [of_three] = [m for m in rows if m.third is not None]
    assert len(feedback.feedback_of(of_three)) == 3
    assert sum(m.no_show for m in rows) == 2 and sum(m.cancelled for m in rows) == 1
    assert (figures.meetings, figures.answered, figures.both_answered) == (7, 6, 5)
    assert figures.follow_ups == {"partnership": 1, "another_meeting": 3, "no_fit": 1}
    assert f'<option value="{past.id}" selected>' in page
    # Neither the cancelled meeting nor the two no-shows count as held.
    assert "7 meetings on published agendas" in page
    held = re.search(r"Meetings held</dt><dd>(\d+)</dd>", page)
    rated = re.search(r"Meetings both parties rated</dt><dd>(\d+)</dd>", page)
    assert (held.group(1), rated.group(1)) == ("7", "5")
    # Feedback moved the two introductions a coordinator made before the forum.
    states = sorted(
        m.state.value for m in db.session.scalars(select(Match).where(Match.origin == "suggested"))
    )
    assert states == ["meeting_held", "no_fit"]
    # The demo SME's own answers are on its agenda of last year's forum.
    sme_user = db.session.scalars(select(User).where(User.email == "sme@example.org")).one()
    own = participation.participant_of(past, sme_user.profile)
    assert len(feedback.answered_by(own)) == 2
