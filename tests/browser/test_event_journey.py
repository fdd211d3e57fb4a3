"""A brokerage event in a real browser, from its creation to the feedback after a meeting.

A coordinator creates the event; the demo SME and the demo expert register from their
profiles; the SME asks to meet the expert, who accepts; the coordinator schedules (the job
runs in the web server) and publishes; the SME's agenda shows the meeting and its calendar
file; once the meeting is over both give feedback and the coordinator reads it.
Screenshots go to test-artifacts/screenshots/event-*.png.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from partnermatch.demo.forum import DEMO_SME, FORUM_NAME
from partnermatch.events.models import Event, Meeting, Participant
from partnermatch.extensions import db
from partnermatch.profiles.models import Profile
from partnermatch.timeutil import utcnow
from tests.browser.support import (
    COORDINATOR,
    EXPERT,
    SME,
    choose_language,
    expect,
    log_in,
    log_out,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

EVENT_NAME = "Kaohsiung Lightweighting Forum"
# A day well ahead, so that registration and requests are open and the slots are to come.
EVENT_DAY = date.today() + timedelta(days=30)
SESSION = f"{EVENT_DAY.isoformat()} 09:00-10:00"
REASON = "Topology optimisation of our die-cast motor housing: could we plan a study?"


def profile_name(live_server: LiveServer, external_id: str) -> str:
    with live_server.app.app_context():
        name = db.session.scalar(select(Profile.name).where(Profile.external_id == external_id))
        db.session.remove()
    assert name, external_id
    return name


def create_the_event(page: Page, base_url: str, screenshots: Path) -> str:
    """Return the event page's address."""
    page.goto(base_url + "/events/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an event")
    page.get_by_label("Name", exact=True).fill(EVENT_NAME)
    page.get_by_label("Venue").fill("Kaohsiung Exhibition Center")
    page.get_by_label("Time zone").fill("Asia/Taipei")
    page.get_by_label("Meeting length").select_option("20")
    page.get_by_label("Tables", exact=True).fill("3")
    page.get_by_label("Sessions", exact=True).fill(SESSION)
    save_screenshot(page, screenshots, "event-new-form")
    page.get_by_role("button", name="Save the event").click()

    expect(page.locator(".flash-success")).to_contain_text("Event created.")
    expect(page.get_by_role("heading", level=1)).to_have_text(EVENT_NAME)
    expect(page.locator(".empty-state")).to_contain_text("Nobody has registered yet.")
    save_screenshot(page, screenshots, "event-created")
    return page.url


def register_from_the_profile(page: Page, cap: str, screenshots: Path, shot: str) -> str:
    """Register the logged-in member's profile; return its name."""
    page.get_by_role("link", name="My profile").first.click()
    name = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name=f"Register for {EVENT_NAME}", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Register for {EVENT_NAME}")
    page.get_by_role("checkbox").first.check()
    page.get_by_label("Most meetings you want").fill(cap)
    save_screenshot(page, screenshots, shot)
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page.locator(".flash")).to_contain_text(f"{name} is registered for {EVENT_NAME}.")
    expect(page.locator(".taking-part")).to_contain_text(f"At most {cap} meetings.")
    return name


def schedule_and_publish(
    page: Page, event_url: str, screenshots: Path, sme: str, expert: str
) -> tuple[str, str]:
    """Return the meeting's start ("09:40") and table ("2") as the grid shows them."""
    page.goto(event_url)
    page.get_by_role("link", name="Schedule", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Schedule of {EVENT_NAME}")
    page.get_by_role("button", name="Schedule the meetings").click()

    # The job's page refreshes itself until the job is done.
    expect(page.get_by_role("heading", level=1)).to_have_text("Meeting schedule")
    expect(page.get_by_role("link", name="See the schedule")).to_be_visible(timeout=60_000)
    stats = page.locator("dl.stats")
    expect(stats).to_contain_text("Meetings proposed1")
    expect(stats).to_contain_text("Not placed0")
    save_screenshot(page, screenshots, "event-schedule-job-done")
    page.get_by_role("link", name="See the schedule").click()

    cell = page.locator(".schedule-grid td").filter(has_text=sme).filter(has_text=expert)
    expect(cell).to_contain_text("proposed, not published")
    page.get_by_role("button", name="Publish the final agenda").click()
    expect(page.locator(".flash-success")).to_contain_text("Published: 1 meeting")
    expect(cell).to_contain_text("published")
    expect(cell).not_to_contain_text("not published")
    save_screenshot(page, screenshots, "event-grid-published")
    row_time = cell.locator("xpath=../th").inner_text()
    start = re.search(r"\d\d:\d\d$", row_time)
    assert start, row_time
    return start.group(0), str(cell.evaluate("cell => cell.cellIndex"))  # th is column 0


def the_agenda_shows_the_meeting(
    page: Page, event_url: str, screenshots: Path, expert: str, start: str, table: str
) -> None:
    end = (datetime.strptime(start, "%H:%M") + timedelta(minutes=20)).strftime("%H:%M")
    page.goto(event_url)
    page.get_by_role("link", name="My meetings").click()
    page.get_by_role("link", name="My agenda").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"at {EVENT_NAME}")
    expect(page.locator(".meta")).to_contain_text("Times in Asia/Taipei")
    row = page.locator(".agenda-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_contain_text(f"{start}\u2013{end}")
    expect(row.locator("td").nth(1)).to_have_text(table)
    expect(row.locator("td").nth(2)).to_have_text(expert)
    expect(row.locator("td").nth(3)).to_have_text(REASON)
    expect(row).to_contain_text("after the meeting")  # no feedback before it
    save_screenshot(page, screenshots, "event-agenda")

    ics = page.get_by_role("link", name="Add to my calendar (.ics)").get_attribute("href")
    response = page.request.get(page.url.split("/events/")[0] + ics)
    assert response.ok
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = response.text()
    assert "BEGIN:VEVENT" in calendar and expert in calendar.replace("\r\n ", "")
    assert f"TZID=Asia/Taipei:{EVENT_DAY:%Y%m%d}T{start.replace(':', '')}00" in calendar

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    table_element = page.locator(".agenda-table")
    expect(table_element).to_be_visible()
    save_screenshot(page, screenshots, "event-agenda-390")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the agenda is {width} px wide on a 390 px phone"
    page.set_viewport_size({"width": 1280, "height": 900})


def the_meeting_took_place(live_server: LiveServer) -> None:
    """Move the published meeting to an hour ago, as if the day had come and gone."""
    with live_server.app.app_context():
        event_id = db.session.scalar(select(Event.id).where(Event.name == EVENT_NAME))
        meeting = db.session.scalars(select(Meeting).where(Meeting.event_id == event_id)).one()
        meeting.slot_start = utcnow() - timedelta(hours=1)
        db.session.commit()
        db.session.remove()


def give_feedback(page: Page, event_url: str, partner: str, useful: str, next_step: str):
    page.goto(event_url)
    page.get_by_role("link", name="My meetings").click()
    page.get_by_role("link", name="My agenda").click()
    page.get_by_role("link", name=f"Give feedback Feedback on your meeting with {partner}").click()
    page.get_by_label(useful, exact=True).check()
    page.get_by_label(next_step, exact=True).check()
    page.get_by_role("button", name="Save my feedback").click()
    expect(page.locator(".flash-success")).to_contain_text("your feedback is saved")
    expect(page.locator(".agenda-table tbody tr")).to_contain_text(useful)


def test_a_brokerage_event_from_registration_to_feedback(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    base_url = live_server.base_url
    log_in(page, base_url, COORDINATOR)
    event_url = create_the_event(page, base_url, screenshots)
    log_out(page)

    log_in(page, base_url, EXPERT)
    expert = register_from_the_profile(page, "4", screenshots, "event-register-expert")
    log_out(page)

    log_in(page, base_url, SME)
    sme = register_from_the_profile(page, "6", screenshots, "event-register-sme")
    page.get_by_role("link", name=f"Ask to meet {expert}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Ask to meet {expert}")
    page.get_by_label("Why meet").fill(REASON)
    page.get_by_role("button", name="Send the request").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Your request to meet {expert}")
    expect(page.locator(".request", has_text=expert)).to_contain_text(REASON)
    save_screenshot(page, screenshots, "event-request-sent")
    log_out(page)

    log_in(page, base_url, EXPERT)
    page.goto(event_url)
    page.get_by_role("link", name="My meetings").click()
    incoming = page.locator(".request", has_text=sme)
    expect(incoming).to_contain_text(REASON)
    save_screenshot(page, screenshots, "event-request-received")
    incoming.get_by_role("button", name=f"Accept {sme}").click()
    expect(page.locator(".flash-success")).to_contain_text("You accepted")
    log_out(page)

    log_in(page, base_url, COORDINATOR)
    start, table = schedule_and_publish(page, event_url, screenshots, sme, expert)
    log_out(page)

    log_in(page, base_url, SME)
    the_agenda_shows_the_meeting(page, event_url, screenshots, expert, start, table)
    the_meeting_took_place(live_server)
    give_feedback(page, event_url, expert, "Useful", "A partnership discussion")
    save_screenshot(page, screenshots, "event-agenda-after-feedback")
    log_out(page)

    log_in(page, base_url, EXPERT)
    give_feedback(page, event_url, sme, "Partly useful", "Another meeting")
    log_out(page)

    log_in(page, base_url, COORDINATOR)
    page.goto(event_url)
    page.get_by_role("link", name="Feedback", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Feedback after the meetings of {EVENT_NAME}"
    )
    answers = page.locator("section[aria-labelledby='answers-title'] tbody tr")
    expect(answers).to_have_count(2)
    expect(answers.filter(has_text="A partnership discussion")).to_contain_text(sme)
    expect(answers.filter(has_text="Another meeting")).to_contain_text(expert)
    save_screenshot(page, screenshots, "event-feedback-list")
    log_out(page)


# Each page's heading in each interface language: the event's sessions, an agenda, the
# marketplace ({name} is the participant, {event} the event).
HEADINGS = {
    "es": ("Sesiones", "Agenda de {name} en {event}", "Mercado de {event}"),
    "id": ("Sesi", "Agenda {name} di {event}", "Pasar {event}"),
    "vi": ("Phiên", "Lịch trình của {name} tại {event}", "Chợ kết nối của {event}"),
    "zh_Hant": ("場次", "{name} 在 {event} 的議程", "{event} 的媒合市集"),
}


def test_the_event_agenda_and_marketplace_read_in_each_interface_language(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    with live_server.app.app_context():
        event_id, participant_id, name = db.session.execute(
            select(Event.id, Participant.id, Profile.name)
            .join(Participant, Participant.event_id == Event.id)
            .join(Participant.profile)
            .where(Event.name == FORUM_NAME, Participant.profile.has(external_id=DEMO_SME))
        ).one()
        db.session.remove()
    base = f"{live_server.base_url}/events/{event_id}"
    log_in(page, live_server.base_url, SME)
    try:
        for code, (sessions, agenda, marketplace) in HEADINGS.items():
            choose_language(page, code)
            page.goto(base)
            expect(page.locator("#sessions-title")).to_have_text(sessions)
            page.goto(f"{base}/participants/{participant_id}/agenda")
            expect(page.get_by_role("heading", level=1)).to_have_text(
                agenda.format(name=name, event=FORUM_NAME)
            )
            save_screenshot(page, screenshots, f"event-agenda-{code}")
            page.goto(f"{base}/marketplace")
            expect(page.get_by_role("heading", level=1)).to_have_text(
                marketplace.format(event=FORUM_NAME)
            )
    finally:
        choose_language(page, "en")  # the demo account is shared with the other tests
