"""On a phone (390 x 844): every main page fits the screen's width and the header stays short.

Each page is saved as test-artifacts/screenshots/mobile-<name>.png, so the run shows what a
phone shows. Tables too wide for the screen scroll inside their own box, never the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from partnermatch.auth.models import User
from partnermatch.demo.forum import DEMO_SME, FORUM_NAME
from partnermatch.events.models import Event, Participant
from partnermatch.extensions import db
from partnermatch.jobs.models import BackgroundJob, JobState
from partnermatch.profiles.models import Profile
from partnermatch.review.models import Match
from tests.browser.support import (
    COORDINATOR,
    SME,
    choose_language,
    expect,
    log_in,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
WIDE = {"width": 1280, "height": 720}  # Playwright's default window
# The interface's other languages, whose words are often longer than English ones.
TRANSLATIONS = ["es", "id", "vi", "zh_Hant"]
# A collapsed header leaves most of the first screen to the page itself.
MAX_HEADER_HEIGHT = 120


@dataclass(frozen=True)
class DemoIds:
    """Rows of the demo programme that the pages below are about."""

    sme_profile: int
    other_profile: int
    match: int
    event: int
    participant: int
    job: int


@pytest.fixture(scope="module")
def demo_ids(live_server: LiveServer) -> Iterator[DemoIds]:
    with live_server.app.app_context():
        sme_profile = db.session.scalar(
            select(Profile.id).join(User, Profile.owner_id == User.id).where(User.email == SME)
        )
        other_profile = db.session.scalar(select(Profile.id).where(Profile.external_id == DEMO_SME))
        event = db.session.scalar(select(Event.id).where(Event.name == FORUM_NAME))
        participant = db.session.scalar(
            select(Participant.id).where(Participant.event_id == event).order_by(Participant.id)
        )
        match = db.session.scalar(select(Match.id).order_by(Match.id))
        # A finished job, as after a coordinator's index rebuild, so its page has something.
        job = BackgroundJob(
            kind="index_rebuild",
            state=JobState.SUCCEEDED,
            progress=1.0,
            message="Done",
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
        )
        db.session.add(job)
        db.session.commit()
        ids = DemoIds(sme_profile, other_profile, match, event, participant, job.id)
        db.session.remove()
    assert None not in vars(ids).values(), ids
    yield ids


# (screenshot name, who is logged in, the page's address from the demo's ids)
PAGES = [
    ("home-anonymous", None, lambda ids: "/"),
    ("search-results", None, lambda ids: "/search/?q=aluminium+die+casting+supplier"),
    # A filter chosen: the filter panel is open, its grid of fields one column wide.
    ("search-filters", None, lambda ids: "/search/?q=aluminium+die+casting+supplier&kind=expert"),
    ("browse", None, lambda ids: "/profiles/"),
    ("profile", None, lambda ids: f"/profiles/{ids.other_profile}"),
    ("events", None, lambda ids: "/events/"),
    ("event-detail", None, lambda ids: f"/events/{ids.event}"),
    ("home-sme", SME, lambda ids: "/"),
    ("introductions", SME, lambda ids: "/introductions"),
    ("profile-edit", SME, lambda ids: f"/profiles/{ids.sme_profile}/edit"),
    ("notifications", SME, lambda ids: "/notifications"),
    ("shortlist", SME, lambda ids: "/shortlist/"),
    ("saved-searches", SME, lambda ids: "/saved-searches/"),
    ("event-marketplace", SME, lambda ids: f"/events/{ids.event}/marketplace"),
    ("home-coordinator", COORDINATOR, lambda ids: "/"),
    ("review", COORDINATOR, lambda ids: "/review/"),
    ("match", COORDINATOR, lambda ids: f"/matches/{ids.match}"),
    ("cohorts", COORDINATOR, lambda ids: "/jobs/"),
    ("job", COORDINATOR, lambda ids: f"/jobs/{ids.job}"),
    ("outbox", COORDINATOR, lambda ids: "/outbox"),
    ("dashboard", COORDINATOR, lambda ids: "/dashboard/"),
    ("event-grid", COORDINATOR, lambda ids: f"/events/{ids.event}/grid"),
    ("event-meetings", COORDINATOR, lambda ids: f"/events/{ids.event}/meetings"),
    ("event-feedback", COORDINATOR, lambda ids: f"/events/{ids.event}/feedback"),
    (
        "event-agenda",
        COORDINATOR,
        lambda ids: f"/events/{ids.event}/participants/{ids.participant}/agenda",
    ),
]


@pytest.fixture(scope="module")
def measurements(screenshots: Path) -> Iterator[dict[str, tuple[int, float]]]:
    """Each page's width and header height, written beside the screenshots for the record."""
    figures: dict[str, tuple[int, float]] = {}
    yield figures
    lines = [f"{name}\t{width}\t{header:.0f}" for name, (width, header) in figures.items()]
    text = "page\tscrollWidth\theader height\n" + "\n".join(lines) + "\n"
    (screenshots / "mobile-measurements.tsv").write_text(text)


@pytest.fixture
def phone(page: Page) -> Page:
    page.set_viewport_size(PHONE)
    return page


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def header_height(page: Page) -> float:
    return page.evaluate("document.querySelector('.site-header').getBoundingClientRect().height")


@pytest.mark.parametrize(("name", "who", "path"), PAGES, ids=[name for name, _, _ in PAGES])
def test_a_main_page_fits_a_phone_screen_with_a_short_header(
    phone: Page,
    live_server: LiveServer,
    demo_ids: DemoIds,
    screenshots: Path,
    measurements: dict[str, tuple[int, float]],
    name: str,
    who: str | None,
    path,
) -> None:
    if who:
        log_in(phone, live_server.base_url, who)
    response = phone.goto(live_server.url(path(demo_ids)))
    assert response is not None and response.ok, f"{path(demo_ids)}: {response and response.status}"
    save_screenshot(phone, screenshots, f"mobile-{name}")

    width, header = page_width(phone), header_height(phone)
    measurements[name] = (width, header)
    assert width <= PHONE["width"] + 1, f"{name} is {width} px wide (header {header:.0f} px)"
    assert header <= MAX_HEADER_HEIGHT, f"{name}'s header is {header:.0f} px tall"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_every_main_page_fits_a_phone_screen_in_each_language(
    page: Page, live_server: LiveServer, demo_ids: DemoIds, screenshots: Path, language: str
) -> None:
    too_wide = {}
    for who in (None, SME, COORDINATOR):
        page.context.clear_cookies()  # logged out, in English again
        page.set_viewport_size(WIDE)  # the language switcher is folded into the menu on a phone
        if who:
            log_in(page, live_server.base_url, who)
        else:
            page.goto(live_server.url("/"))
        choose_language(page, language)  # kept on the account: set back to English below
        try:
            page.set_viewport_size(PHONE)
            for name, _, path in [entry for entry in PAGES if entry[1] == who]:
                response = page.goto(live_server.url(path(demo_ids)))
                assert response is not None and response.ok, (language, path(demo_ids))
                expect(page.locator("html")).to_have_attribute("lang", language.replace("_", "-"))
                save_screenshot(page, screenshots, f"mobile-{language}-{name}")
                if page_width(page) > PHONE["width"] + 1 or header_height(page) > MAX_HEADER_HEIGHT:
                    too_wide[name] = (page_width(page), round(header_height(page)))
        finally:
            if who:  # the accounts are shared by the browser suite
                page.set_viewport_size(WIDE)
                choose_language(page, "en")
    assert not too_wide, f"{language}: (width, header height) of pages too large: {too_wide}"


def test_the_menu_opens_on_a_phone_and_its_links_can_be_followed(
    phone: Page, live_server: LiveServer, screenshots: Path
) -> None:
    log_in(phone, live_server.base_url, COORDINATOR)
    folded = phone.locator(".site-header nav a", has_text="Review")
    expect(folded).to_be_attached()
    expect(folded).to_be_hidden()  # on the page, folded away until asked for

    menu = phone.locator(".site-header summary", has_text="Menu")
    menu.focus()
    phone.keyboard.press("Enter")
    review = phone.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Review", exact=True
    )
    expect(review).to_be_visible()
    expect(phone.get_by_role("button", name="Log out")).to_be_visible()
    expect(phone.get_by_label("Language")).to_be_visible()
    save_screenshot(phone, screenshots, "mobile-menu-open")
    assert page_width(phone) <= PHONE["width"] + 1

    review.click()
    expect(phone).to_have_url(live_server.url("/review/"))
    expect(phone.get_by_role("heading", level=1)).to_be_visible()


def test_a_wide_table_scrolls_in_its_own_labelled_box_on_a_phone(
    phone: Page, live_server: LiveServer
) -> None:
    log_in(phone, live_server.base_url, COORDINATOR)
    phone.goto(live_server.url("/review/"))
    box = phone.locator(".table-scroll").first
    expect(box).to_have_attribute("role", "region")
    expect(box).to_have_attribute("tabindex", "0")
    assert box.get_attribute("aria-label")
    # The table may be wider than the box; the box itself is no wider than the screen.
    assert box.evaluate("el => el.getBoundingClientRect().right") <= PHONE["width"] + 1


def test_a_wide_screen_shows_the_whole_menu_without_a_toggle(
    page: Page, live_server: LiveServer
) -> None:
    log_in(page, live_server.base_url, COORDINATOR)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Review", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_label("Language")).to_be_visible()
    expect(page.locator(".site-header summary", has_text="Menu")).to_be_hidden()
