"""What a person does in the browser, step by step, shared by the browser tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

try:
    from playwright.sync_api import expect
except ImportError:  # conftest skips these tests (or fails them on CI) and says why
    expect = None

if TYPE_CHECKING:
    from playwright.sync_api import Page

DEMO_PASSWORD = "partnermatch-demo"
SME = "sme@example.org"
EXPERT = "expert@example.org"
COORDINATOR = "coordinator@example.org"


def log_in(page: Page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form and land on the home page."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".flash-success")).to_contain_text("Logged in as")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash")).to_have_text("You have logged out.")


def menu_link(page: Page, name: str):
    """A link of the site's menu, by its exact name: pages may have links of similar names."""
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)


def flash(page: Page) -> str:
    """The text of the messages shown at the top of the page."""
    return page.locator(".flashes").inner_text()


def choose_language(page: Page, code: str) -> None:
    """Pick a language in the header's switcher, as a person would."""
    page.locator("#language-select").select_option(code)
    page.locator(".language-switcher button").click()
    expect(page.locator("html")).to_have_attribute("lang", code.replace("_", "-"))


def open_details(page: Page, summary: str, within=None) -> None:
    """Open a <details> panel by its summary, with the keyboard as a keyboard user would."""
    scope = within if within is not None else page
    toggle = scope.locator("summary", has_text=summary).first
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle.locator("xpath=..")).to_have_attribute("open", "")


def save_screenshot(page: Page, folder: Path, name: str) -> Path:
    """Save the whole page, not only what fits in the window."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def match_id_of(url: str) -> int:
    """The id in a match page's address."""
    found = re.search(r"/matches/(\d+)$", url)
    assert found, f"not a match page: {url}"
    return int(found.group(1))
