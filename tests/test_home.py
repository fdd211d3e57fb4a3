"""Home pages that say what comes next: a visitor's, a member's (SME or expert) and a
coordinator's, with one-click reminders for introductions left unanswered."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from partnermatch.auth.models import Role
from partnermatch.events.models import Event, Meeting, MeetingState, Participant
from partnermatch.extensions import db
from partnermatch.main import services as home
from partnermatch.notifications.models import OutboxMessage
from partnermatch.profiles.services import delete_profile
from partnermatch.review import services as review
from partnermatch.review.models import Match, MatchEvent, MatchOrigin, MatchState
from partnermatch.timeutil import utcnow
from tests.conftest import make_test_app
from tests.factories import PASSWORD, make_profile, make_user

# --- helpers ---------------------------------------------------------------------------------


def panel(page: str, title_id: str) -> str:
    """The HTML of the home panel whose heading has this id."""
    start = page.index(f'aria-labelledby="{title_id}"')
    return page[start : page.index("</section>", start)]


def suggestion(sme, partner) -> Match:
    """A cohort suggestion waiting for review (nobody but staff sees it yet)."""
    match = Match(
        sme=sme, partner=partner, state=MatchState.SUGGESTED, origin=MatchOrigin.SUGGESTED
    )
    db.session.add(match)
    db.session.flush()
    return match


def backdate(match: Match, action: str, days: float) -> None:
    for event in match.events:
        if event.action == action:
            event.created_at = utcnow() - timedelta(days=days)


def approved(sme, partner, coordinator, days_ago: float = 0) -> Match:
    """An introduction a coordinator sent to both parties `days_ago`."""
    match = suggestion(sme, partner)
    review.approve(match, coordinator)
    backdate(match, "approve", days_ago)
    db.session.commit()
    return match


def introduced(sme, partner, coordinator) -> Match:
    match = approved(sme, partner, coordinator)
    for side, profile in (("sme", sme), ("partner", partner)):
        # A party's owner answers; for a profile without an account, a coordinator does.
        review.respond(match, profile.owner or coordinator, True, side=side)
    db.session.commit()
    return match


def outbox_count() -> int:
    return db.session.scalar(select(func.count(OutboxMessage.id)))


def reminders_of(match: Match) -> int:
    return db.session.scalar(
        select(func.count(MatchEvent.id)).where(
            MatchEvent.match_id == match.id, MatchEvent.action == home.REMIND_ACTION
        )
    )


@pytest.fixture
def programme(db):
    """A coordinator, an SME and an expert, each with an account; the members with profiles."""
    sme = make_user(Role.SME, display_name="Mei Lin")
    expert = make_user(Role.EXPERT, display_name="Haruki Sonobe")
    return {
        "coordinator": make_user(Role.COORDINATOR, display_name="Ana Reyes"),
        "sme": sme,
        "expert": expert,
        "sme_profile": make_profile(owner=sme, name="Kaohsiung Castings", evidence=1),
        "expert_profile": make_profile(
            "expert", owner=expert, name="Sonobe Lab", economy="JP", evidence=1
        ),
    }


# --- a visitor ---------------------------------------------------------------------------------


def test_a_visitor_reads_what_the_programme_is_and_how_to_join(client):
    page = client.get("/").get_data(as_text=True)

    assert "Find the partner your value chain is missing" in page
    assert "Join as an SME or expert" in page and "Who does what" in page
    assert "The programme today" in page
    assert "Today in the programme" not in page and "Welcome," not in page


# --- an SME or an expert ---------------------------------------------------------------------


def test_a_member_home_opens_with_a_search_box(programme, login_as):
    page = login_as(programme["sme"]).get("/").get_data(as_text=True)

    assert '<h1 id="home-title">Welcome, Mei Lin</h1>' in page
    form = panel(page, "home-title")
    assert 'action="/search/"' in form and 'role="search"' in form
    assert '<label for="home-q">Search for a partner, in your own words</label>' in form
    assert '<input id="home-q" type="search" name="q"' in form
    assert "Who does what" not in page  # the visitors' introduction


def test_a_member_without_a_profile_is_asked_to_create_one_first(db, login_as):
    page = login_as(make_user(Role.EXPERT)).get("/").get_data(as_text=True)

    first_step = panel(page, "first-step-title")
    assert "Your first step: create your profile" in first_step
    assert 'href="/profiles/new"' in first_step
    assert "completeness-title" not in page and "Recommended partners" not in page


def test_completeness_scores_a_profile_and_puts_the_steps_that_raise_it_most_first(db):
    sparse = make_profile(keywords=(), city="", summary="")
    complete = make_profile(evidence=1)

    scored = home.completeness(sparse)

    assert scored.score == 100 - 20 - 15 - 5 - 5
    assert [step.code for step in scored.steps] == ["evidence", "summary", "keywords", "city"]
    assert home.completeness(complete) == home.Completeness(100, [])
    assert sum(step.points for step in home.STEPS) == 100


def test_the_completeness_panel_links_each_step_to_the_field_that_fills_it(db, login_as):
    owner = make_user(Role.SME)
    profile = make_profile(owner=owner, summary="", sectors=())
    client = login_as(owner)

    page = client.get("/").get_data(as_text=True)

    completeness = panel(page, "completeness-title")
    assert "Your profile is 55 % complete" in completeness
    steps = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', completeness)
    assert steps == [
        (f"/profiles/{profile.id}/evidence/new", "add evidence: a publication, project or patent"),
        (f"/profiles/{profile.id}/edit#summary", "write a summary"),
        (f"/profiles/{profile.id}/edit#sectors-0", "choose sectors"),
    ]
    form = client.get(f"/profiles/{profile.id}/edit").get_data(as_text=True)
    assert 'id="summary"' in form and 'id="sectors-0"' in form  # the links land on a field


def test_a_complete_profile_is_told_to_stay_current(programme, login_as):
    page = login_as(programme["sme"]).get("/").get_data(as_text=True)

    completeness = panel(page, "completeness-title")
    assert "Your profile is 100 % complete" in completeness
    assert "Complete: keep it current as your work changes." in completeness
    assert "What raises it most" not in completeness


def test_an_sme_sees_what_waits_for_its_answer_and_its_requests_with_their_stage(
    programme, login_as
):
    coordinator, sme, sme_profile = (programme[k] for k in ("coordinator", "sme", "sme_profile"))
    requested = make_profile("expert", name="Requested Lab")
    to_answer = make_profile("expert", name="Proposed Lab")
    met = make_profile("expert", name="Introduced Lab")
    unreviewed = make_profile("expert", name="Unreviewed Lab")
    review.request_introduction(sme, requested)
    proposal = approved(sme_profile, to_answer, coordinator)
    introduction = introduced(sme_profile, met, coordinator)
    suggestion(sme_profile, unreviewed)
    db.session.commit()

    page = login_as(sme).get("/").get_data(as_text=True)

    answer = panel(page, "to-answer-title")
    assert "Proposed Lab" in answer and f'href="/matches/{proposal.id}"' in answer
    assert "Accept or decline" in answer and "Requested Lab" not in answer
    under_way = panel(page, "in-progress-title")
    assert "Your open requests and introductions" in under_way
    assert re.search(
        r"Requested Lab</a>\s*<span class=\"state state-suggested\">"
        r"Requested, waiting for review</span>",
        under_way,
    )
    assert re.search(
        r"Introduced Lab</a>\s*<span class=\"state state-introduced\">"
        r"Introduced</span>",
        under_way,
    )
    assert f'href="/matches/{introduction.id}"' in under_way
    assert "Proposed Lab" not in under_way
    assert "Unreviewed Lab" not in page  # a cohort suggestion is staff-only until approved


def test_an_expert_hears_of_a_request_only_once_a_coordinator_sends_it(programme, login_as):
    coordinator, sme = programme["coordinator"], programme["sme"]
    expert_profile = programme["expert_profile"]
    match = review.request_introduction(sme, expert_profile)
    db.session.commit()
    client = login_as(programme["expert"])

    before = client.get("/").get_data(as_text=True)
    review.approve(match, coordinator)
    db.session.commit()
    after = client.get("/").get_data(as_text=True)
    review.respond(match, programme["expert"], True)
    db.session.commit()
    answered = client.get("/").get_data(as_text=True)

    assert "Kaohsiung Castings" not in panel(before, "to-answer-title")
    assert "Your introductions under way" in panel(before, "in-progress-title")
    assert "Kaohsiung Castings" in panel(after, "to-answer-title")
    assert "Kaohsiung Castings" not in panel(answered, "to-answer-title")
    assert "Waiting for their answer" in panel(answered, "in-progress-title")


def test_a_member_with_nothing_under_way_reads_an_empty_state_in_each_panel(programme, login_as):
    client = login_as(programme["sme"])
    sme_page = client.get("/").get_data(as_text=True)
    client.post("/logout")
    expert_page = login_as(programme["expert"]).get("/").get_data(as_text=True)

    for page in (sme_page, expert_page):
        assert (
            "Nothing to answer: the introductions a coordinator proposes to you appear here."
            in (panel(page, "to-answer-title"))
        )
        assert "Recommended partners for" in page
        # No search index in this test: the recommendations panel says so instead.
        assert "Recommendations will appear once the search index is ready." in page
    assert "No request under way: ask for an introduction" in panel(sme_page, "in-progress-title")
    assert "No introduction under way" in panel(expert_page, "in-progress-title")


# --- a coordinator -----------------------------------------------------------------------------


def test_a_coordinator_home_with_nothing_to_do_says_so_in_each_panel(programme, login_as):
    page = login_as(programme["coordinator"]).get("/").get_data(as_text=True)

    assert '<h1 id="home-title">Today in the programme</h1>' in page
    assert 'action="/search/"' in panel(page, "home-title")
    assert "Nothing waits for review." in panel(page, "review-title")
    assert "Every introduction has been answered in time." in panel(page, "unanswered-title")
    assert "No past meeting is waiting for an outcome." in panel(page, "past-meetings-title")
    assert "Every profile is complete and updated within the year." in panel(
        page, "profiles-follow-up-title"
    )
    # The two members' profiles were created today: this week's numbers show them.
    assert re.search(
        r'New profiles</th><td class="num">2</td><td class="num">0</td>', panel(page, "week-title")
    )


def test_the_coordinator_sees_what_waits_for_review_oldest_first(programme, login_as):
    sme_profile = programme["sme_profile"]
    first = suggestion(sme_profile, make_profile("expert", name="First Lab"))
    suggestion(sme_profile, make_profile("expert", name="Second Lab"))
    db.session.commit()

    page = login_as(programme["coordinator"]).get("/").get_data(as_text=True)

    waiting = panel(page, "review-title")
    assert "(2)" in waiting
    assert waiting.index("Kaohsiung Castings and First Lab") < waiting.index("Second Lab")
    assert f'href="/matches/{first.id}"' in waiting and 'href="/review/"' in waiting


def test_introductions_unanswered_for_more_than_the_setting_are_listed_with_a_reminder(
    programme, login_as
):
    coordinator, sme_profile = programme["coordinator"], programme["sme_profile"]
    old = approved(sme_profile, programme["expert_profile"], coordinator, days_ago=8)
    approved(sme_profile, make_profile("expert", name="Recent Lab"), coordinator, days_ago=2)

    page = login_as(coordinator).get("/").get_data(as_text=True)

    unanswered = panel(page, "unanswered-title")
    assert "Unanswered for more than 7 days" in unanswered and "(1)" in unanswered
    assert "Kaohsiung Castings and Sonobe Lab" in unanswered and "Recent Lab" not in unanswered
    assert "waiting for Kaohsiung Castings, Sonobe Lab" in unanswered
    assert f'action="/matches/{old.id}/remind"' in unanswered
    assert "Send a reminder" in unanswered


def test_a_reminder_goes_to_the_parties_still_to_answer_through_the_outbox(programme, login_as):
    coordinator = programme["coordinator"]
    match = approved(programme["sme_profile"], programme["expert_profile"], coordinator, 9)
    review.respond(match, programme["sme"], True)
    db.session.commit()
    before = outbox_count()
    client = login_as(coordinator)

    response = client.post(f"/matches/{match.id}/remind", follow_redirects=True)

    assert "Reminder sent to 1 person." in response.get_data(as_text=True)
    [email] = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()[before:]
    assert email.to_email == programme["expert"].email
    assert "is waiting for your answer. Please accept or decline it." in email.body
    assert reminders_of(match) == 1
    history = client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert "sent a reminder" in history


def test_a_reminder_is_not_sent_twice_the_same_day(programme, login_as):
    coordinator = programme["coordinator"]
    match = approved(programme["sme_profile"], programme["expert_profile"], coordinator, 9)
    client = login_as(coordinator)
    client.post(f"/matches/{match.id}/remind")
    after_first = outbox_count()

    again = client.post(f"/matches/{match.id}/remind", follow_redirects=True)
    page = again.get_data(as_text=True)

    assert "A reminder was already sent at" in page and "one a day at most" in page
    assert outbox_count() == after_first and reminders_of(match) == 1
    unanswered = panel(page, "unanswered-title")
    assert "Send a reminder" not in unanswered and "a reminder a day at most" in unanswered

    backdate(match, home.REMIND_ACTION, 1.1)
    db.session.commit()
    assert "Reminder sent to 2 people." in client.post(
        f"/matches/{match.id}/remind", follow_redirects=True
    ).get_data(as_text=True)
    assert reminders_of(match) == 2


def test_a_party_without_an_account_cannot_be_reminded(programme, login_as):
    coordinator = programme["coordinator"]
    match = approved(make_profile(name="Offline SME"), make_profile("expert"), coordinator, 9)
    client = login_as(coordinator)

    unanswered = panel(client.get("/").get_data(as_text=True), "unanswered-title")
    refused = client.post(f"/matches/{match.id}/remind", follow_redirects=True)

    assert "Offline SME" in unanswered and "Send a reminder" not in unanswered
    assert "no account to remind: answer on their behalf on the match page" in unanswered
    assert "Nobody to remind" in refused.get_data(as_text=True)
    assert reminders_of(match) == 0


def test_only_staff_send_reminders(programme, login_as):
    match = approved(
        programme["sme_profile"], programme["expert_profile"], programme["coordinator"], 9
    )
    before = outbox_count()

    response = login_as(programme["sme"]).post(f"/matches/{match.id}/remind")

    assert response.status_code == 403
    assert outbox_count() == before and reminders_of(match) == 0
    with pytest.raises(home.ReminderRefused, match="Only a programme coordinator"):
        home.send_reminder(match, programme["sme"], utcnow())


def test_an_introduction_already_answered_is_not_reminded(programme):
    coordinator = programme["coordinator"]
    match = introduced(programme["sme_profile"], programme["expert_profile"], coordinator)

    with pytest.raises(home.ReminderRefused, match="not waiting for an answer"):
        home.send_reminder(match, coordinator, utcnow())


def test_a_reminder_needs_the_forms_csrf_token(tmp_path):
    app = make_test_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        coordinator = make_user(Role.COORDINATOR)
        match = approved(
            make_profile(owner=make_user(Role.SME)), make_profile("expert"), coordinator, 9
        )
        client = app.test_client()

        def token(path: str) -> str:
            page = client.get(path).get_data(as_text=True)
            return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

        client.post(
            "/login",
            data={"email": coordinator.email, "password": PASSWORD, "csrf_token": token("/login")},
        )
        forged = client.post(f"/matches/{match.id}/remind")
        genuine = client.post(f"/matches/{match.id}/remind", data={"csrf_token": token("/")})

        assert forged.status_code == 400
        assert genuine.status_code == 302 and reminders_of(match) == 1
        db.session.remove()
        db.engine.dispose()


def test_meetings_held_at_an_event_without_an_outcome_are_listed(programme, login_as):
    coordinator = programme["coordinator"]
    sme_profile, expert_profile = programme["sme_profile"], programme["expert_profile"]
    settled = make_profile("expert", name="Settled Lab")
    event = Event(name="Kaohsiung Forum", timezone="Asia/Taipei")
    sme_there = Participant(event=event, profile=sme_profile)
    now = utcnow()

    def meeting(other, hours: int, **fields) -> Meeting:
        return Meeting(
            event=event,
            first=sme_there,
            second=Participant(event=event, profile=other),
            slot_start=now + timedelta(hours=hours),
            table_number=1,
            state=MeetingState.PUBLISHED,
            **fields,
        )

    db.session.add_all(
        [
            meeting(expert_profile, -3),
            meeting(settled, -2),
            meeting(make_profile("expert", name="Tomorrow Lab"), 24),
            meeting(make_profile("expert", name="Cancelled Lab"), -1, cancelled=True),
        ]
    )
    match = introduced(sme_profile, settled, coordinator)
    review.record_outcome(match, coordinator, MatchState.MEETING_HELD)
    db.session.commit()

    page = login_as(coordinator).get("/").get_data(as_text=True)

    meetings = panel(page, "past-meetings-title")
    assert "(1)" in meetings and "Kaohsiung Castings and Sonobe Lab" in meetings
    assert f'href="/events/{event.id}"' in meetings
    for left_out in ("Settled Lab", "Tomorrow Lab", "Cancelled Lab"):
        assert left_out not in meetings


def test_profiles_incomplete_or_not_updated_for_a_year_are_counted_and_listed(programme, login_as):
    incomplete = make_profile(name="No Sectors Co", sectors=())
    stale = make_profile(name="Old News Co")
    stale.updated_at = utcnow() - timedelta(days=400)
    delete_profile(make_profile(name="Deleted Co", value_chain=()))
    db.session.commit()
    client = login_as(programme["coordinator"])

    page = client.get("/").get_data(as_text=True)
    incomplete_list = client.get("/follow-up/profiles?which=incomplete").get_data(as_text=True)
    stale_list = client.get("/follow-up/profiles?which=stale").get_data(as_text=True)

    follow_up = panel(page, "profiles-follow-up-title")
    assert "1 incomplete profile<" in follow_up
    assert "1 profile not updated for a year<" in follow_up
    assert incomplete.name in incomplete_list and "It still needs: its sectors" in incomplete_list
    assert "Deleted Co" not in incomplete_list and "Old News Co" not in incomplete_list
    assert stale.name in stale_list and "No Sectors Co" not in stale_list
    assert client.get("/follow-up/profiles?which=everything").status_code == 404


def test_the_weeks_numbers_compare_the_last_seven_days_with_the_seven_before(programme):
    earlier = make_profile(name="Last Week Co")
    earlier.created_at = utcnow() - timedelta(days=10)
    make_profile(name="Long Ago Co").created_at = utcnow() - timedelta(days=30)
    review.request_introduction(programme["sme"], programme["expert_profile"])
    db.session.commit()

    week = {
        figure.label: (figure.this_week, figure.last_week) for figure in home.week_numbers(utcnow())
    }

    assert week == {
        "New profiles": (2, 1),
        "Introduction requests": (1, 0),
        "Introductions made": (0, 0),
        "Outcomes recorded": (0, 0),
    }


# --- the setting -------------------------------------------------------------------------------


def test_reminder_after_days_sets_when_an_introduction_counts_as_unanswered(tmp_path):
    app = make_test_app(tmp_path / "three-days", REMINDER_AFTER_DAYS=3)
    with app.app_context():
        db.create_all()
        coordinator = make_user(Role.COORDINATOR)
        approved(make_profile(name="Four Days Co"), make_profile("expert"), coordinator, 4)
        approved(make_profile(name="Two Days Co"), make_profile("expert"), coordinator, 2)
        client = app.test_client()
        client.post("/login", data={"email": coordinator.email, "password": PASSWORD})

        unanswered = panel(client.get("/").get_data(as_text=True), "unanswered-title")

        assert "Unanswered for more than 3 days" in unanswered
        assert "Four Days Co" in unanswered and "Two Days Co" not in unanswered
        db.session.remove()
        db.engine.dispose()
