"""The home pages in a real browser: each role's at desktop and phone width, and an SME's in
every interface language. Screenshots go to test-artifacts/screenshots/home-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import (
    COORDINATOR,
    EXPERT,
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

WIDTHS = {1280: 900, 390: 844}  # width: height, a desktop window and a phone
# Who logs in, what the page's heading says, and which panels it has.
HOMES = {
    "anonymous": (None, "Find the partner your value chain is missing", ["programme-title"]),
    "sme": (
        SME,
        "Welcome, Demo SME (die-casting)",
        ["completeness-title", "to-answer-title", "in-progress-title", "for-you-title"],
    ),
    "expert": (
        EXPERT,
        "Welcome, Demo expert (topology optimisation)",
        ["completeness-title", "to-answer-title", "in-progress-title", "for-you-title"],
    ),
    "coordinator": (
        COORDINATOR,
        "Today in the programme",
        [
            "review-title",
            "unanswered-title",
            "past-meetings-title",
            "profiles-follow-up-title",
            "week-title",
        ],
    ),
}
# The SME home's "waiting for your answer" heading in each interface language.
TO_ANSWER = {
    "en": "Introductions waiting for your answer",
    "es": "Presentaciones que esperan su respuesta",
    "id": "Perkenalan yang menunggu jawaban Anda",
    "vi": "Giới thiệu đang chờ bạn trả lời",
    "zh_Hant": "等待您回覆的引介",
}

# What sticks out of a panel on the right: each element's tag, class and how far it sticks out.
WIDER_THAN_ITS_PANEL = """panel => {
  const right = panel.getBoundingClientRect().right + 1;
  return [...panel.querySelectorAll("*")]
    .filter(element => element.getBoundingClientRect().width > 1)  // not .visually-hidden
    .filter(element => element.getBoundingClientRect().right > right)
    .map(element => `${element.tagName.toLowerCase()}.${element.className}` +
      ` +${Math.round(element.getBoundingClientRect().right - right)}px`)
    .slice(0, 5);
}"""


@pytest.mark.parametrize("role", list(HOMES))
def test_each_home_page_fits_a_desktop_and_a_phone(
    page: Page, live_server: LiveServer, screenshots: Path, role: str
) -> None:
    email, heading, panels = HOMES[role]
    if email:
        log_in(page, live_server.base_url, email)
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(live_server.url("/"))

        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        for title in panels:
            section = page.locator(f'section[aria-labelledby="{title}"]')
            expect(section).to_be_visible()
            box = section.bounding_box()
            assert box is not None and box["x"] >= 0, (role, width, title)
            assert box["x"] + box["width"] <= width, f"{title} is wider than {width} px"
            overflow = section.evaluate(WIDER_THAN_ITS_PANEL)
            assert not overflow, f"{title} at {width} px: wider than the panel: {overflow}"
        if email:
            search = page.get_by_role("search")
            expect(search.get_by_role("searchbox")).to_be_visible()
            box = search.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
        save_screenshot(page, screenshots, f"home-{role}-{width}")


def test_the_coordinators_home_lists_the_suggestions_waiting_for_review(
    page: Page, live_server: LiveServer
) -> None:
    log_in(page, live_server.base_url, COORDINATOR)
    review = page.locator('section[aria-labelledby="review-title"]')

    expect(review.get_by_role("link", name="Open the review queue")).to_be_visible()
    review.get_by_role("listitem").first.get_by_role("link").click()

    expect(page).to_have_url(re.compile(r"/matches/\d+$"))
    expect(page.get_by_role("button", name="Approve and introduce")).to_be_visible()


def test_an_sme_home_reads_in_each_interface_language(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    log_in(page, live_server.base_url, SME)
    try:
        for code, heading in TO_ANSWER.items():
            choose_language(page, code)
            page.goto(live_server.url("/"))
            expect(page.locator("#to-answer-title")).to_contain_text(heading)
            expect(page.get_by_role("search").get_by_role("searchbox")).to_be_visible()
            save_screenshot(page, screenshots, f"home-sme-{code}")
    finally:
        choose_language(page, "en")  # the demo account is shared with the other tests
