"""The page's messages when things go wrong, and a user's own account page (issue 20, docs/web.md),
in Debian's chromium against real servers over the module's runtime: a rate limit names its wait,
a file over the size limit says so with the limit, a server that went away is reported as such
without an uncaught error, and a user changes their password and turns on MFA (the code computed
here with pyotp from the key the page shows), then signs in again with password and code.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest

from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from test_api import serve
from web_browser import ask, axe_violations, chromium, drop_files, open_page, shot, sign_in

pytest.importorskip("playwright.sync_api")

UPLOAD_LIMIT = 100_000  # bytes
MOBILE = {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True}
# What chromium itself logs for each refused or failed request; the page may log nothing else.
BROWSER_LOG = "Failed to load resource"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_bytes": UPLOAD_LIMIT})


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@contextmanager
def server(runtime: Runtime, **settings: Any) -> Iterator[str]:
    """Another real server over the module's runtime, with these settings; stopped on leaving."""
    with serve(create_app(runtime.settings.model_copy(update=settings), runtime=runtime)) as url:
        yield url


def page_errors(console: Any) -> list[str]:
    return [e for e in console.errors if BROWSER_LOG not in e]


def test_a_rate_limit_names_the_wait(browser: Any, runtime: Runtime, admin_key: str) -> None:
    runtime.collection(runtime.default_tenant, "default", create=True)
    with server(runtime, rate_limits="ask=1/minute") as url:
        page, console = open_page(browser, url)
        sign_in(page, admin_key)
        page.get_by_role("button", name="Chat").click()
        ask(page, "What colour is the lighthouse?")  # the minute's one question
        question = page.get_by_label(re.compile("^Question about"))
        question.fill("And its height?")
        page.get_by_role("button", name="Ask", exact=True).click()
        message = page.locator("#ask-msg")
        message.get_by_text("Too many requests").wait_for()
        text = message.inner_text()
        wait = re.search(r"Try again in (\d+) seconds?\.", text)
        assert wait and 1 <= int(wait.group(1)) <= 60, text
        assert "(rate_limited)" in text
        assert page.locator("#thread .turn").count() == 1  # no empty turn for the refused one
        assert question.input_value() == "And its height?"  # kept, to send once the wait is over
        shot(page, "rate-limited")
    assert not page_errors(console), console.errors


def test_a_file_over_the_size_limit_names_the_limit(browser: Any, base_url: str, admin_key: str) -> None:
    page, console = open_page(browser, base_url)
    sign_in(page, admin_key)
    # Declared far past the cap, the body is refused before it is read (api/guard.py), mid-send.
    drop_files(page, [("atlas.txt", "text/plain", b"sea " * 262_144)])
    row = page.locator("#uploads li[data-status=failed]").filter(has_text="atlas.txt")
    row.wait_for()
    text = row.inner_text()
    assert "larger than this server accepts" in text, text
    assert f"limit of {UPLOAD_LIMIT} bytes" in text and "This file is 1.0 MB" in text, text
    assert "(file_too_large)" in text
    assert not page_errors(console), console.errors


def test_a_server_that_is_down_is_reported_and_nothing_crashes(
    browser: Any, runtime: Runtime, admin_key: str
) -> None:
    """The server stops after the page has loaded. Chromium logs each refused connection
    ("Failed to load resource: net::ERR_CONNECTION_REFUSED") itself: those are allowed, and
    nothing else, so an uncaught exception or unhandled rejection in the page still fails."""
    with server(runtime) as url:
        page, console = open_page(browser, url)
        sign_in(page, admin_key)
        page.get_by_role("button", name="Chat").click()
        page.locator("#health.ok").wait_for()
    question = page.get_by_label(re.compile("^Question about"))
    question.fill("Is anyone there?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator("#ask-msg").get_by_text("The server can't be reached").wait_for()
    assert "(network_error)" in page.locator("#ask-msg").inner_text()
    # The failed request checks the server at once: the banner, not the next 15 s tick.
    page.locator("#notice").get_by_text("can't be reached").wait_for(timeout=5_000)
    assert page.locator("#health").inner_text() == "server down"
    assert question.input_value() == "Is anyone there?"
    assert page.locator("#thread .turn").count() == 0
    page.get_by_role("button", name="Library").click()  # the page still works as a page
    page.get_by_label("New collection name").fill("harbour")
    page.get_by_role("button", name="Create").click()
    page.locator("#coll-msg").get_by_text("can't be reached").wait_for()
    shot(page, "server-down")
    assert any("ERR_CONNECTION_REFUSED" in e for e in console.errors), console.errors
    assert not page_errors(console), console.errors


def _code(secret: str, after: float = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + after)


def test_a_user_changes_password_and_turns_on_mfa(browser: Any, base_url: str, client: httpx.Client) -> None:
    email, first, second = "mara@example.org", "first password 1", "second password 2"
    client.post("/v1/users", json={"email": email, "password": first, "role": "editor"}).raise_for_status()
    page, console = open_page(browser, base_url, **MOBILE)

    def sign_in_with(password: str) -> None:
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()

    sign_in_with(first)
    page.get_by_role("button", name="Account").click()
    page.locator("#me").get_by_text(email).wait_for()
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(second)
    page.get_by_label("New password again").fill(second)
    page.get_by_role("button", name="Change password").click()
    page.locator("#pw-msg").get_by_text("The current password is wrong").wait_for()
    page.get_by_label("Current password").fill(first)
    page.get_by_role("button", name="Change password").click()
    page.locator("#pw-msg").get_by_text("Password changed.").wait_for()

    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator("#mfa-setup").wait_for()
    assert page.locator("#mfa-qr").evaluate("i => i.decode().then(() => i.naturalWidth)") > 0
    uri = page.get_by_role("link", name=re.compile("authenticator app")).get_attribute("href") or ""
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    assert page.locator("#mfa-secret").inner_text().replace(" ", "") == secret
    assert page.locator("#mfa-codes li").count() >= 8
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(page) == []
    shot(page, "mfa-enroll")
    page.get_by_label("The code the app shows now").fill("000000" if _code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    page.locator("#mfa-msg.error").wait_for()
    page.get_by_label("The code the app shows now").fill(_code(secret))
    page.get_by_role("button", name="Turn on").click()
    page.locator("#mfa-msg").get_by_text("Two-factor authentication is on").wait_for()
    assert page.locator("#mfa-qr").get_attribute("src") is None and page.locator("#mfa-scan").is_hidden()
    assert page.locator("#mfa-codes li").count() >= 8  # still there to be saved, until the page is left

    page.get_by_role("button", name="Sign out").click()
    sign_in_with(second)
    page.get_by_label("Authenticator code or recovery code").wait_for()
    assert "(mfa_required)" in page.locator("#login-msg").inner_text()
    # The code used to turn MFA on is spent: the next time step's (within the allowed drift).
    page.get_by_label("Authenticator code or recovery code").fill(_code(secret, after=30))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#library-view:not([hidden])")
    page.get_by_role("button", name="Account").click()
    page.locator("#mfa-state").get_by_text("On:").wait_for()
    assert axe_violations(page) == []
    assert not page_errors(console), console.errors
