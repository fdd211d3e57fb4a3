"""A real HTTP server on 127.0.0.1 and Debian's headless chromium driven by Playwright.

The app runs as in production where it matters for a browser: CSRF protection on, the
security headers and their content security policy, a real socket. Chromium is the system
one (/usr/bin/chromium); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from flask import Flask
from werkzeug.serving import make_server

from partnermatch.demo import load_demo
from partnermatch.extensions import db as database
from partnermatch.matching.extension import get_engine
from partnermatch.profiles.services import ProfileFilters
from partnermatch.review.cohort import cohort_smes, suggest_for_cohort
from tests.conftest import make_test_app, skip_or_fail_in_ci

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
# Git-ignored (/test-artifacts/ in .gitignore): what the pages looked like in the last run.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: end-to-end tests in a real headless browser")


def _missing_browser_parts() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright; no browser download)")
    return missing


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip when chromium or Playwright is missing, except on CI, where that is a failure."""
    missing = _missing_browser_parts()
    if missing:
        skip_or_fail_in_ci("browser tests need " + " and ".join(missing))


@dataclass
class LiveServer:
    """The app served over HTTP; `url("/path")` is where a browser finds a page."""

    app: Flask
    base_url: str

    def url(self, path: str = "/") -> str:
        return self.base_url + path


@pytest.fixture(scope="session")
def live_server(
    browser_available: None,
    tmp_path_factory: pytest.TempPathFactory,
    shared_embedding_cache: Path,
) -> Iterator[LiveServer]:
    """The demo programme with its index and a cohort's suggestions, served on a free port."""
    app = make_test_app(
        tmp_path_factory.mktemp("browser-app"),
        EMBEDDING_CACHE=str(shared_embedding_cache),
        WTF_CSRF_ENABLED=True,
    )
    with app.app_context():
        database.create_all()
        load_demo(app.config["DEMO_PASSWORD"])
        database.session.commit()
        engine = get_engine()
        engine.rebuild()
        # Suggestions waiting for review, as after a coordinator's cohort run: the queue and
        # the dashboard then look like a programme under way, not an empty shell.
        suggest_for_cohort(engine, cohort_smes(ProfileFilters()), k=2)
        database.session.commit()
        database.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            database.engine.dispose()


@pytest.fixture(scope="session")
def browser_context(browser_available: None) -> Iterator[BrowserContext]:
    """Debian's chromium, headless, with a fresh empty profile folder of its own."""
    from playwright.sync_api import sync_playwright

    user_data_dir = tempfile.mkdtemp(prefix="partnermatch-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                user_data_dir,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
                locale="en-GB",  # the interface's own language: the texts the tests read
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(user_data_dir, ignore_errors=True)


@dataclass
class ConsoleLog:
    """Errors a page reported: console errors (CSP violations among them) and uncaught ones."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error":
            self.errors.append(f"{url or '?'}: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser_context: BrowserContext, console: ConsoleLog) -> Iterator[Page]:
    """A new tab with no one logged in; any console error on any page fails the test."""
    browser_context.clear_cookies()
    page = browser_context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    page.close()
    assert console.errors == [], "the browser reported errors:\n" + "\n".join(console.errors)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
