"""Follow-up in a real browser: a shortlist, saved searches and their CSV, messages between
the two parties of an introduction and both parties' outcome answers, in every interface
language. Screenshots go to test-artifacts/screenshots/follow-up-*.png.

Each test has members of its own (made through the services, as a programme's import would),
so the demo accounts the other browser tests share keep their shortlist, searches and matches.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from partnermatch.auth.models import Role, User
from partnermatch.extensions import db
from partnermatch.review import services as review
from tests.browser.support import (
    COORDINATOR,
    choose_language,
    expect,
    log_in,
    log_out,
    save_screenshot,
)
from tests.factories import make_profile, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "follow-up-in-the-browser"
QUERY = "topology optimisation to make die-cast aluminium housings lighter"
_numbers = itertools.count(1)

# Each page's heading (or the match page's messages heading) in each interface language.
HEADINGS = {
    "shortlist": {
        "en": "My shortlist",
        "es": "Mi lista corta",
        "id": "Daftar pendek saya",
        "vi": "Danh sách rút gọn của tôi",
        "zh_Hant": "我的候選名單",
    },
    "saved-searches": {
        "en": "Saved searches",
        "es": "Búsquedas guardadas",
        "id": "Pencarian tersimpan",
        "vi": "Tìm kiếm đã lưu",
        "zh_Hant": "已儲存的搜尋",
    },
    "match": {
        "en": "Messages",
        "es": "Mensajes",
        "id": "Pesan",
        "vi": "Tin nhắn",
        "zh_Hant": "訊息",
    },
}


@dataclass(frozen=True)
class Member:
    email: str
    name: str  # the profile's
    profile_id: int


def new_member(live_server: LiveServer, kind: str, name: str) -> Member:
    """An account with a profile of its own, its contact email given."""
    number = next(_numbers)
    email = f"follow-up-{kind}-{number}@example.org"
    with live_server.app.app_context():
        user = make_user(
            Role.SME if kind == "sme" else Role.EXPERT,
            email=email,
            password=PASSWORD,
            display_name=f"{name} owner",
        )
        profile = make_profile(
            kind, owner=user, name=f"{name} {number}", contact_email=f"contact-{email}"
        )
        member = Member(email, profile.name, profile.id)
        db.session.remove()
    return member


def introduced_match(live_server: LiveServer, sme: Member, partner: Member) -> int:
    """A request approved by a coordinator and accepted by both parties: contacts shared."""
    with live_server.app.app_context():

        def user(email: str) -> User:
            return db.session.scalars(select(User).where(User.email == email)).one()

        sme_user, partner_user = user(sme.email), user(partner.email)
        match = review.request_introduction(sme_user, partner_user.profile, "Shall we meet?")
        review.approve(match, user(COORDINATOR), "A good fit.")
        review.respond(match, sme_user, True, "Yes, please.")
        review.respond(match, partner_user, True, "Gladly.")
        db.session.commit()
        assert match.contacts_shared
        match_id = match.id
        db.session.remove()
    return match_id


def search_for_experts(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.get_by_label("What are you looking for?").fill(QUERY)
    page.locator("details.filters summary").click()
    page.get_by_label("Kind").select_option("expert")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-title")).to_contain_text("best first")


def test_an_sme_shortlists_a_partner_from_a_result_and_asks_for_an_introduction_from_there(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    sme = new_member(live_server, "sme", "Shortlisting Castings")
    log_in(page, live_server.base_url, sme.email, PASSWORD)
    search_for_experts(page)
    result = page.locator("li.result").first
    partner = result.locator("h3").inner_text()

    result.get_by_role("button", name=f"Save to shortlist {partner}").click()
    expect(page.locator(".flash-success")).to_have_text(f"{partner} is on your shortlist.")
    saved = page.locator("li.result", has=page.get_by_role("link", name=partner, exact=True))
    expect(saved.get_by_role("button", name=f"Saved ✓ Remove {partner}")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Saved").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My shortlist")
    entries = page.locator("li.profile-card")
    expect(entries).to_have_count(1)
    expect(entries.get_by_role("heading", level=2)).to_have_text(partner)
    save_screenshot(page, screenshots, "follow-up-shortlist")

    entries.get_by_role("link", name=f"Ask for an introduction to {partner}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Ask for an introduction to {partner}"
    )
    page.get_by_label("A note for the coordinators").fill("Found you through our shortlist.")
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_url(re.compile(r"/matches/\d+$"))
    expect(page.locator(".state")).to_have_text("Waiting for review")

    page.goto(live_server.url("/shortlist/"))
    entry = page.locator("li.profile-card")
    expect(entry.locator(".match-state .state")).to_have_text("Requested, waiting for review")
    expect(entry.get_by_role("link", name="Ask for an introduction")).to_have_count(0)
    entry.get_by_role("link", name=f"See the introduction to {partner}").click()
    expect(page).to_have_url(re.compile(r"/matches/\d+$"))
    save_screenshot(page, screenshots, "follow-up-shortlist-requested")


def test_a_member_saves_a_search_with_its_filters_and_downloads_its_results_as_csv(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    sme = new_member(live_server, "sme", "Searching Castings")
    log_in(page, live_server.base_url, sme.email, PASSWORD)
    search_for_experts(page)

    download = page.get_by_role("link", name="Download CSV")
    csv = page.request.get(live_server.url(download.get_attribute("href") or ""))
    assert csv.ok
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"].startswith("attachment;")
    header, first_row, *_ = csv.text().splitlines()
    first_result = page.locator("li.result h3").first.inner_text()
    assert "name" in header.lower() and first_result in first_row, (header, first_row)
    assert "@" not in csv.text(), "no contact detail before an introduction"

    page.get_by_role("link", name="Save this search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save this search")
    page.get_by_label("Name").fill("Lightweighting experts")
    save_screenshot(page, screenshots, "follow-up-save-search")
    page.get_by_role("button", name="Save the search").click()

    expect(page.locator(".flash-success")).to_contain_text("Search saved.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Saved searches")
    saved = page.locator("li.profile-card")
    expect(saved).to_have_count(1)
    expect(saved.get_by_role("heading", level=2)).to_have_text("Lightweighting experts")
    expect(saved).to_contain_text(QUERY)
    save_screenshot(page, screenshots, "follow-up-saved-searches")

    # Running it again brings back the words and the filter.
    saved.get_by_role("link", name="Run Lightweighting experts").click()
    expect(page.get_by_label("What are you looking for?")).to_have_value(QUERY)
    expect(page.get_by_label("Kind")).to_have_value("expert")
    expect(page.locator("li.result h3").first).to_have_text(first_result)


def test_the_two_parties_write_to_each_other_and_both_say_how_it_went(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    sme = new_member(live_server, "sme", "Messaging Castings")
    expert = new_member(live_server, "expert", "Dr. Messaging")
    match_id = introduced_match(live_server, sme, expert)
    match_url = live_server.url(f"/matches/{match_id}")

    log_in(page, live_server.base_url, sme.email, PASSWORD)
    page.goto(match_url)
    expect(page.locator(".state")).to_have_text("Introduced")
    expect(page.locator("#messages .empty-state")).to_contain_text("No messages yet.")
    page.get_by_label("Your message").fill("Could we meet at the forum on Tuesday?")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator(".flash-success")).to_have_text("Message sent.")
    expect(page.locator("li.own-message")).to_contain_text("meet at the forum on Tuesday")
    log_out(page)

    log_in(page, live_server.base_url, expert.email, PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My introductions").click()
    row = page.locator("tr", has=page.get_by_role("link", name=f"Open match {match_id}"))
    expect(row.locator(".badge")).to_have_text("1 unread message")
    # Its notifications: the introduction's (proposed, introduced) and the message's.
    page.get_by_role("link", name=re.compile(r"^Notifications \d+ unread")).click()
    page.get_by_role("link", name=f"New message from {sme.name} about your introduction.").click()
    expect(page).to_have_url(match_url + "#messages")
    expect(page.locator("li.their-message")).to_contain_text("meet at the forum on Tuesday")
    page.get_by_label("Your message").fill("Tuesday at ten, table four.")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator("li.their-message + li.own-message")).to_contain_text("table four")
    # Opening the thread read it: the badge is gone.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My introductions").click()
    expect(row.locator(".badge")).to_have_count(0)

    page.goto(match_url)
    page.get_by_label("What came of it").select_option(label="Partnership formed")
    page.get_by_label("Note (optional)").fill("We start a joint project.")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".flash-success")).to_have_text("Thank you: your answer is recorded.")
    # One answer so far: the two met, the match stays open for the SME's answer.
    expect(page.locator(".state")).to_have_text("Meeting held")
    partner_panel = page.locator(".party", has_text=expert.name)
    expect(partner_panel).to_contain_text("How it went, in their words: Partnership formed")
    log_out(page)

    log_in(page, live_server.base_url, sme.email, PASSWORD)
    page.goto(match_url)
    expect(page.locator("li.their-message")).to_contain_text("table four")
    page.get_by_label("What came of it").select_option(label="Partnership formed")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".flash-success")).to_have_text("Thank you: your answer is recorded.")
    expect(page.locator(".state")).to_have_text("Partnership formed")
    for party in (sme.name, expert.name):
        expect(page.locator(".party", has_text=party)).to_contain_text(
            "How it went, in their words: Partnership formed"
        )
    save_screenshot(page, screenshots, "follow-up-match-both-outcomes")


def test_the_follow_up_pages_read_in_each_interface_language(
    page: Page, live_server: LiveServer, screenshots: Path
) -> None:
    sme = new_member(live_server, "sme", "Multilingual Castings")
    expert = new_member(live_server, "expert", "Dr. Multilingual")
    match_id = introduced_match(live_server, sme, expert)
    paths = {
        "shortlist": ("/shortlist/", "h1"),
        "saved-searches": ("/saved-searches/", "h1"),
        "match": (f"/matches/{match_id}", "#messages-title"),
    }
    log_in(page, live_server.base_url, sme.email, PASSWORD)
    for code in HEADINGS["shortlist"]:
        choose_language(page, code)
        for name, (path, heading) in paths.items():
            page.goto(live_server.url(path))
            expect(page.locator(heading)).to_have_text(HEADINGS[name][code])
            save_screenshot(page, screenshots, f"follow-up-{name}-{code}")
