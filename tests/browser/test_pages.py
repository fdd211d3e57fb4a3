"""What a polished product owes every visitor: clear errors, keyboard access, a quiet console."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import COORDINATOR, SME, expect, log_in, save_screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

    from tests.browser.conftest import ConsoleLog, LiveServer

pytestmark = pytest.mark.browser


def test_registration_with_bad_input_comes_back_with_each_error_beside_its_field(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/register"))
    page.get_by_label("Your name").fill("Ana Reyes")
    page.get_by_label("Email").fill("ana.reyes-at-example.org")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("shorter")
    page.get_by_role("button", name="Create my account").click()

    expect(page).to_have_url(live_server.url("/register"))
    expect(page.get_by_role("alert")).to_have_text("Please correct the fields marked below.")
    expect(page.locator("fieldset.has-error")).to_contain_text("Choose SME or expert.")
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-errors")).to_contain_text("Invalid email address")
    expect(page.locator("#password-errors")).to_contain_text("at least 10 characters")
    expect(page.locator("#confirm-errors")).to_have_text("The two passwords differ.")
    # What was typed stays, except the passwords; the errors are read out with their fields.
    expect(page.get_by_label("Your name")).to_have_value("Ana Reyes")
    expect(email).to_have_value("ana.reyes-at-example.org")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    described_by = email.get_attribute("aria-describedby") or ""
    assert "email-errors" in described_by.split()


def test_the_required_marker_sits_on_its_labels_line_outside_the_label(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/register"))
    password = page.get_by_label("Password", exact=True)
    label = page.locator("label[for=password]")
    marker = page.locator(".field:has(#password) .required")

    label_box, marker_box = label.bounding_box(), marker.bounding_box()
    assert label_box is not None and marker_box is not None
    assert abs(marker_box["y"] - label_box["y"]) < label_box["height"] / 2  # the same line
    assert marker_box["x"] >= label_box["x"] + label_box["width"] - 1  # after the label
    expect(label).to_have_text("Password")
    expect(marker).to_have_attribute("aria-hidden", "true")
    expect(password).to_have_attribute("required", "")


def test_a_wrong_password_is_refused_without_saying_which_half_was_wrong(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/login"))
    page.get_by_label("Email").fill(SME)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("alert")).to_have_text("The email or the password is wrong.")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_the_skip_link_is_the_first_tab_stop_and_takes_focus_to_the_main_content(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/"))
    skip_link = page.get_by_role("link", name="Skip to main content")
    box = skip_link.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0  # out of sight until focused

    page.keyboard.press("Tab")
    expect(skip_link).to_be_focused()
    box = skip_link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0  # now on screen
    outline = skip_link.evaluate("link => getComputedStyle(link).outlineStyle")
    assert outline != "none", "the focused link shows no focus ring"

    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server.url("/#content"))
    expect(page.locator("main#content")).to_be_focused()
    page.keyboard.press("Tab")
    in_main = page.evaluate("document.activeElement.closest('main') !== null")
    assert in_main, "the next Tab should stay in the main content, past the header"


def test_a_search_result_opens_its_reasons_from_the_keyboard(
    page: Page, live_server: LiveServer
) -> None:
    page.goto(live_server.url("/search/"))
    page.get_by_label("What are you looking for?").fill("battery cell testing and certification")
    page.keyboard.press("Tab")  # to the filters, then on to the search button
    page.get_by_role("button", name="Search").focus()
    page.keyboard.press("Enter")

    first = page.locator("li.result").first
    why = first.locator("summary", has_text="Why this match")
    why.focus()
    expect(why).to_be_focused()
    page.keyboard.press("Space")
    expect(first.locator("details.why li").last).to_be_visible()
    expect(first.locator("details.why li").last).to_contain_text("Closest in meaning")


MAIN_PAGES = {
    None: ["/", "/search/?q=traffic+data+analytics", "/profiles/", "/login", "/register"],
    SME: ["/", "/introductions", "/notifications"],
    COORDINATOR: ["/review/", "/dashboard/", "/jobs/", "/outbox"],
}


@pytest.mark.parametrize("who", list(MAIN_PAGES), ids=["visitor", "sme", "coordinator"])
def test_main_pages_load_with_no_console_error(
    page: Page, live_server: LiveServer, console: ConsoleLog, screenshots: Path, who: str | None
) -> None:
    if who:
        log_in(page, live_server.base_url, who)
    role = who.split("@")[0] if who else "visitor"
    for path in MAIN_PAGES[who]:
        response = page.goto(live_server.url(path))
        assert response is not None and response.status == 200, path
        expect(page.locator("h1")).to_have_count(1)
        assert console.errors == [], f"{path}: {console.errors}"
        name = path.split("?")[0].strip("/").replace("/", "-") or "home"
        save_screenshot(page, screenshots, f"{role}-{name}")
    if who == SME:
        # The demo SME's own profile, with its recommended partners and the reasons for one.
        page.get_by_role("link", name="My profile").click()
        first = page.locator(".recommendation").first
        first.locator("summary", has_text="Why this match").click()
        expect(first.locator("table.factors")).to_be_visible()
        assert console.errors == []
        save_screenshot(page, screenshots, "profile-sme-with-recommendations")


def test_the_console_check_catches_an_inline_script_that_the_policy_blocks(
    page: Page, live_server: LiveServer, console: ConsoleLog
) -> None:
    """The console check can fail: a page with an inline script breaks the app's own CSP."""

    def with_inline_script(route: Route) -> None:
        response = route.fetch()
        body = response.text().replace("</body>", "<script>document.title = 'x'</script></body>")
        route.fulfill(response=response, body=body)

    page.route(live_server.url("/"), with_inline_script)
    page.goto(live_server.url("/"))
    expect(page).not_to_have_title("x")
    assert any("Content Security Policy" in error for error in console.errors), console.errors
    console.errors.clear()  # seen and expected: the page fixture checks for any others
