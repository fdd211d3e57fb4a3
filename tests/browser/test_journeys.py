"""The two journeys of a programme, in a real browser: from joining to a recorded partnership."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import (
    COORDINATOR,
    EXPERT,
    expect,
    log_in,
    log_out,
    match_id_of,
    menu_link,
    open_details,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

EXPERT_NAME = "Dr. Haruki Sonobe"  # the demo expert: topology optimisation for die casting
SME_NAME = "Mekong Lightcast Co."
SME_EMAIL = "linh.tran@mekong-lightcast.example"
SME_PASSWORD = "hai-phong-casting-2026"
QUERY = (
    "someone who can make our die-cast aluminium motor housings lighter "
    "with topology optimisation and casting simulation"
)


def register_as_sme(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("link", name="Join as an SME or expert").click()
    page.get_by_label("An SME looking for partners and expertise").check()
    page.get_by_label("Your name").fill("Linh Tran")
    page.get_by_label("Email").fill(SME_EMAIL)
    page.get_by_label("Password", exact=True).fill(SME_PASSWORD)
    page.get_by_label("Repeat the password").fill(SME_PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect(page).to_have_url(base_url + "/profiles/new")
    expect(page.locator(".flash-success")).to_contain_text("Welcome to PartnerMatch")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your SME profile")


def fill_in_the_profile(page: Page, screenshots: Path) -> None:
    page.get_by_label("Name", exact=True).fill(SME_NAME)
    page.get_by_label("Organisation", exact=True).fill(SME_NAME)
    page.get_by_label("Economy").fill("Viet Nam")
    page.get_by_label("City").fill("Hai Phong")
    page.get_by_label("Metal technology").check()
    page.get_by_label("Green vehicles").check()
    page.get_by_label("Processing", exact=True).check()
    page.get_by_label("Components", exact=True).check()
    page.get_by_label("Summary").fill(
        "Aluminium die-casting plant with 60 staff and six cold-chamber machines (400-900 t), "
        "casting ADC12 housings for e-scooter hub motors and motor controllers."
    )
    page.get_by_label("What you offer").fill(
        "High-pressure die casting of aluminium housings and brackets, CNC finishing, "
        "prototype casting trials on production cells."
    )
    page.get_by_label("What you need").fill(
        "Lightweight design: topology optimisation that respects die-casting rules, and "
        "mould-filling and solidification simulation to cut the mass of motor housings by 20 %."
    )
    page.get_by_label("Keywords").fill("die casting, aluminium, e-scooter motor housing")
    page.get_by_label("Contact email").fill(SME_EMAIL)
    save_screenshot(page, screenshots, "profile-form")
    page.get_by_role("button", name="Save profile").click()

    expect(page.locator(".flash-success")).to_contain_text("Your profile is saved")
    expect(page.get_by_role("heading", level=1)).to_have_text(SME_NAME)
    expect(page.locator(".profile-header")).to_contain_text("Viet Nam, Hai Phong")
    # The new profile is matched at once, without an index rebuild.
    expect(page.locator(".recommendation").first).to_be_visible()
    open_details(page, "Why this match", within=page.locator(".recommendation").first)
    save_screenshot(page, screenshots, "profile-new-sme-with-recommendations")


def search_in_plain_language(page: Page, screenshots: Path) -> None:
    menu_link(page, "Search").click()
    page.get_by_label("What are you looking for?").fill(QUERY)
    page.get_by_role("button", name="Search").click()

    expect(page.locator("#results-title")).to_contain_text("best first")
    names = page.locator("li.result h3").all_inner_texts()
    assert EXPERT_NAME in names[:3], f"the expert is not among the first three: {names}"

    result = page.locator("li.result", has=page.get_by_role("link", name=EXPERT_NAME))
    open_details(page, "Why this match", within=result)
    reasons = result.locator("details.why li")
    expect(reasons.last).to_be_visible()
    expect(reasons.last).to_contain_text("Closest in meaning")
    assert reasons.count() >= 2, "a match should give reasons beyond its similarity"
    save_screenshot(page, screenshots, "search-results-why")


def ask_for_an_introduction(page: Page, screenshots: Path) -> str:
    page.get_by_role("link", name=EXPERT_NAME).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(EXPERT_NAME)
    # Before any introduction the expert's contact stays private.
    expect(page.locator(".profile-side")).to_contain_text("shared through an introduction")
    expect(page.locator(".profile-side")).not_to_contain_text(EXPERT)
    save_screenshot(page, screenshots, "profile-expert")
    page.get_by_role("link", name=f"Ask for an introduction to {EXPERT_NAME}", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Ask for an introduction to {EXPERT_NAME}"
    )
    page.get_by_label("A note for the coordinators").fill(
        "We would like a lightweighting study of our hub-motor housing."
    )
    page.get_by_role("button", name="Send the request").click()

    expect(page).to_have_url(re.compile(r"/matches/\d+$"))
    expect(page.locator(".flash-success")).to_contain_text(
        f"Your request to meet {EXPERT_NAME} goes to the programme coordinators"
    )
    expect(page.locator(".state")).to_have_text("Waiting for review")
    expect(page.locator("#why-title")).to_contain_text("Why this match")
    match_url = page.url

    menu_link(page, "My introductions").click()
    waiting = page.locator("section", has=page.locator("#requests-title"))
    expect(waiting.locator("tbody tr")).to_have_count(1)
    expect(waiting.locator("tbody tr")).to_contain_text(EXPERT_NAME)
    return match_url


def coordinator_approves(
    page: Page, base_url: str, match_url: str, screenshots: Path
) -> dict[str, int]:
    """Approve the SME's request; return the dashboard's funnel as it was before."""
    log_in(page, base_url, COORDINATOR)
    menu_link(page, "Dashboard").click()
    funnel_before = funnel_stages(page)
    menu_link(page, "Review").click()  # not the home page's "Open the review queue"
    expect(page.get_by_role("heading", level=1)).to_have_text("Review matches")
    save_screenshot(page, screenshots, "review-queue")

    page.get_by_label("Origin").select_option(label="SME requests")
    page.get_by_role("button", name="Filter").click()
    # The server is shared by the whole browser suite: other journeys' requests may wait too.
    ours = page.locator("tbody tr:not(.why-row)", has_text=SME_NAME)
    expect(ours).to_have_count(1)
    why_row = ours.locator("xpath=following-sibling::tr[1]")
    open_details(page, "the SME's note", within=why_row)
    expect(why_row).to_contain_text("a lightweighting study")
    save_screenshot(page, screenshots, "review-queue-sme-requests")

    match_id = match_id_of(match_url)
    page.get_by_role("link", name=f"Open match {match_id}").click()
    expect(page).to_have_url(match_url)
    page.get_by_label("Note (optional)").fill("Good fit: please meet at the Hai Phong workshop.")
    page.get_by_role("button", name="Approve and introduce").click()
    expect(page.locator(".flash-success")).to_have_text(
        "Approved: the introduction is sent to both parties."
    )
    expect(page.locator(".state")).to_have_text("Introduction sent")
    log_out(page)
    return funnel_before


def answer(page: Page, accept: bool, message: str) -> None:
    page.get_by_label("Accept the introduction" if accept else "Decline").check()
    page.get_by_label("Reason or message (optional)").fill(message)
    page.get_by_role("button", name="Send", exact=True).click()


def expert_accepts(page: Page, base_url: str, match_url: str) -> None:
    log_in(page, base_url, EXPERT)
    page.get_by_role("link", name=re.compile(r"^Notifications \d+ unread")).click()
    page.get_by_role(
        "link", name=f"A coordinator proposes an introduction between {SME_NAME} and {EXPERT_NAME}"
    ).click()
    expect(page).to_have_url(match_url)
    answer(page, accept=True, message="Happy to help: send us the housing CAD.")
    expect(page.locator(".flash-success")).to_have_text("Thank you: your answer is recorded.")
    expect(page.locator(".state")).to_have_text("Introduction sent")
    # One side has accepted: the contacts stay private until the other does too.
    expect(page.locator(".party").first).to_contain_text("shared once both sides accept")
    expect(page.locator("main")).not_to_contain_text(SME_EMAIL)
    log_out(page)


def sme_accepts_and_sees_the_expert(page: Page, base_url: str, match_url: str) -> None:
    log_in(page, base_url, SME_EMAIL, SME_PASSWORD)
    menu_link(page, "My introductions").click()
    page.get_by_role("link", name=f"Open match {match_id_of(match_url)}").click()
    answer(page, accept=True, message="Thank you, we will send it this week.")
    expect(page.locator(".state")).to_have_text("Introduced")
    partner = page.locator(".party", has_text=EXPERT_NAME)
    expect(partner.locator(".contact")).to_have_text(f"Contact: {EXPERT}")
    log_out(page)


def expert_sees_the_sme(page: Page, base_url: str, match_url: str) -> None:
    log_in(page, base_url, EXPERT)
    page.get_by_role("link", name=re.compile(r"^Notifications")).click()
    page.get_by_role(
        "link", name=re.compile(re.escape(f"{SME_NAME} and {EXPERT_NAME} are introduced"))
    ).click()
    expect(page).to_have_url(match_url)
    sme = page.locator(".party", has_text=SME_NAME)
    expect(sme.locator(".contact")).to_have_text(f"Contact: {SME_EMAIL}")
    log_out(page)


def funnel_stages(page: Page) -> dict[str, int]:
    """The dashboard's funnel, read from the table beside its chart."""
    funnel = page.locator("section.chart", has=page.locator("#funnel-title"))
    open_details(page, "Table", within=funnel)
    return {
        row.locator("td").first.inner_text(): int(row.locator("td").last.inner_text())
        for row in funnel.locator("tbody tr").all()
    }


def coordinator_records_the_outcome(
    page: Page, base_url: str, match_url: str, screenshots: Path, funnel_before: dict[str, int]
) -> None:
    log_in(page, base_url, COORDINATOR)
    page.goto(match_url)
    page.get_by_label("What came of it").select_option(label="Partnership formed")
    page.get_by_label("Note (optional)").fill("Joint lightweighting project signed.")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".flash-success")).to_have_text("Outcome recorded.")
    expect(page.locator(".state")).to_have_text("Partnership formed")
    expect(page.locator(".history li").last).to_contain_text("Joint lightweighting project")
    save_screenshot(page, screenshots, "match-partnership-formed")

    menu_link(page, "Dashboard").click()
    save_screenshot(page, screenshots, "dashboard")
    stages = funnel_stages(page)
    assert stages["Suggested"] > 1  # the cohort's suggestions and this request
    # The server is shared by the browser suite: this journey moved one match through each stage.
    assert {stage: stages[stage] - funnel_before[stage] for stage in list(stages)[1:]} == {
        "Approved": 1,
        "Accepted by a party": 1,
        "Introduced": 1,
        "Partnership formed": 1,
    }


def test_an_sme_joins_finds_an_expert_and_their_introduction_becomes_a_partnership(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    base = live_server.base_url
    # Journey 1: an SME registers, describes itself, searches, asks for an introduction.
    register_as_sme(page, base)
    fill_in_the_profile(page, screenshots)
    search_in_plain_language(page, screenshots)
    match_url = ask_for_an_introduction(page, screenshots)
    log_out(page)
    # Journey 2: review, consent from both sides, contacts shared, outcome, dashboard.
    funnel_before = coordinator_approves(page, base, match_url, screenshots)
    expert_accepts(page, base, match_url)
    sme_accepts_and_sees_the_expert(page, base, match_url)
    expert_sees_the_sme(page, base, match_url)
    coordinator_records_the_outcome(page, base, match_url, screenshots, funnel_before)
