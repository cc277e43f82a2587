"""The page in a real browser (issue 20 point 2, docs/web.md): Debian's chromium driven by
Playwright against a real server, no browser download. Uploads by drag and drop, streamed answers,
citations with their highlighted quote (on the PDF page too), feedback, deletion, the mobile
viewport and dark mode, axe-core with no serious or critical violation, and no console error.
Clear messages for a wrong key, refused files (unsupported, over the size limit: the limit named), a
rate limit (the wait named) and a server that went away; a user's Account page: a new password and
MFA turned on (the code computed here with pyotp from the page's key), then signed in with it.
Screenshots are kept under $DOCRAG_TEST_ARTIFACTS (default tests/artifacts/web, git-ignored).
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest

from ci_strict import require
from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from docs_factory import make_pdf
from http_servers import serve
from web_browser import ask, axe_violations, chromium, drop_files, open_page, shot, sign_in

require(importlib.util.find_spec("playwright") is not None, "playwright (the dev extra)")

UPLOAD_LIMIT = 200_000  # bytes: small, so that the page's "too large" message can be seen
COLLECTION = "webtest"
MOBILE = {"viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True}
# What chromium itself logs for each refused or failed request; the page may log nothing else.
BROWSER_LOG = "Failed to load resource"
FILES = [
    (
        "skerry.md",
        "text/markdown",
        b"# Skerry Light\n\nThe Skerry Light lighthouse was built in 1871 by the engineer Tomas Vell.\n\n"
        b"Its lamp burned colza oil until 1925.\n",
    ),
    (
        "cottage.pdf",
        "application/pdf",
        make_pdf(
            [
                [
                    "The keeper's cottage",
                    "The keeper's cottage has a red slate roof and two chimneys.",
                    "A walled garden grows potatoes and kale.",
                ]
            ]
        ),
    ),
    ("tides.txt", "text/plain", b"Tide tables\n\nThe spring tide at the skerry rises four metres.\n"),
]


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


def test_upload_ask_cite_rate_and_delete(browser: Any, base_url: str, admin_key: str) -> None:
    page, console = open_page(browser, base_url)
    sign_in(page, admin_key)
    page.get_by_label("New collection name").fill(COLLECTION)
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector(f"#collection option[value={COLLECTION}]", state="attached")
    assert page.locator("#collection").input_value() == COLLECTION

    drop_files(page, FILES)
    rows = page.locator("#uploads li.upload")
    for name, _, _ in FILES:
        row = rows.filter(has_text=name)
        row.and_(page.locator("[data-status=indexed]")).wait_for(timeout=60_000)
    assert page.locator("#upload-bar").evaluate("b => b.value") == 1
    page.locator("#docs tbody tr").nth(2).wait_for()
    shot(page, "library")

    page.get_by_role("button", name="Chat").click()
    turn = ask(page, "Who built the Skerry Light lighthouse?")
    assert "Tomas Vell" in turn.locator(".sentences").inner_text()
    assert turn.locator(".verdict").count() >= 1
    cite = turn.locator("button.cite").first
    quote = cite.get_attribute("data-quote")
    cite.click()
    mark = page.locator("#source-passage mark")
    assert mark.inner_text() == quote
    assert (
        page.locator("#source-h").inner_text() == "skerry.md"
        or "Skerry" in page.locator("#source-h").inner_text()
    )
    shot(page, "citation")
    page.keyboard.press("Escape")  # closes the panel, focus back on the mark
    assert page.locator("#source").is_hidden()

    # The PDF: its page rendered by the server, the quote's boxes over it.
    pdf_turn = ask(page, "What roof does the keeper's cottage have?")
    cite = pdf_turn.locator("button.cite").first
    quote = cite.get_attribute("data-quote") or ""
    cite.click()
    assert page.locator("#source-passage mark").inner_text() == quote
    page.wait_for_selector("#source-page:not([hidden]) #page-frame .hl")
    matched = page.locator("#page-frame").get_attribute("data-matched") or ""
    assert " ".join(matched.split()).lower() == " ".join(quote.split()).lower()
    assert page.locator("#page-img").evaluate("i => i.complete && i.naturalWidth > 0")
    shot(page, "citation-pdf")
    page.get_by_role("button", name="Close source panel").click()

    # Feedback on the first answer, with a comment.
    first = page.locator("#thread .turn").first
    first.get_by_label("Comment on this answer").fill("named the engineer")
    first.get_by_role("button", name="Good answer").click()
    first.get_by_text("Thanks: rated up.").wait_for()
    answer_id = first.locator(".answer").get_attribute("data-answer-id")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}) as api:
        assert api.get("/v1/feedback/summary").json()["up"] >= 1
        assert api.get(f"/v1/answers/{answer_id}").status_code == 200

    # The conversation is listed, and resumes with its turns.
    page.get_by_role("button", name="New", exact=True).click()
    assert page.locator("#thread .turn").count() == 0
    page.locator("#conversations button.link").first.click()
    page.locator("#thread .turn").nth(1).wait_for()

    # Delete the cited document: asked again, the answer no longer cites it.
    page.get_by_role("button", name="Library").click()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete Skerry Light").or_(
        page.get_by_role("button", name="Delete skerry.md")
    ).first.click()
    page.get_by_text("Deleted").first.wait_for()
    page.get_by_role("button", name="Chat").click()
    again = ask(page, "Who built the Skerry Light lighthouse?")
    labels = [c.get_attribute("aria-label") or "" for c in again.locator("button.cite").all()]
    assert not [label for label in labels if "skerry" in label.lower()], labels
    assert "Tomas Vell" not in again.inner_text()
    shot(page, "after-delete")
    assert not console.errors, console.errors


def test_mobile_dark_mode_and_accessibility(browser: Any, base_url: str, admin_key: str) -> None:
    page, console = open_page(
        browser, base_url, viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    assert axe_violations(page) == []  # the sign-in form
    sign_in(page, admin_key)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 25)", background  # the dark palette
    for view in ("Library", "Chat", "Admin"):
        page.get_by_role("button", name=view, exact=True).click()
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{view}: the page is {width}px wide at 390"
        assert axe_violations(page) == [], view
        shot(page, f"mobile-dark-{view.lower()}")
    # The toggle turns it light, and the choice outlives a reload.
    page.get_by_role("button", name="Toggle dark mode").click()
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert axe_violations(page) == []
    shot(page, "mobile-light")
    assert not console.errors, console.errors


def test_clear_messages_for_a_wrong_key_and_refused_files_and_their_limit(
    browser: Any, base_url: str, admin_key: str
) -> None:
    page, console = open_page(browser, base_url)
    page.get_by_label("API key", exact=True).fill("drk_not-a-real-key")
    page.get_by_label("API key", exact=True).press("Enter")  # the keyboard submits
    message = page.locator("#login-msg")
    message.get_by_text("was not accepted").wait_for()
    assert "unauthenticated" in message.inner_text()
    assert page.locator("#library-view").is_hidden()
    sign_in(page, admin_key)
    drop_files(
        page,
        [
            ("tool.exe", "application/octet-stream", b"MZ\x90\x00" + bytes(600)),
            # Read past the limit (it is under the multipart allowance), and declared far past
            # it: refused before its body is read, while chromium is still sending (api/guard.py).
            ("huge.txt", "text/plain", b"word " * (UPLOAD_LIMIT // 4)),
            ("atlas.txt", "text/plain", b"sea " * 262_144),
        ],
    )
    failed = page.locator("#uploads li[data-status=failed]")
    failed.nth(2).wait_for()
    texts = failed.all_inner_texts()
    assert any("not supported" in t and "unsupported_file_type" in t for t in texts), texts
    too_large = [t for t in texts if "larger than this server accepts" in t]
    assert len(too_large) == 2, texts
    for text in too_large:  # the limit is the file's, not the file's plus the multipart allowance
        assert f"limit of {UPLOAD_LIMIT} bytes" in text and "(file_too_large)" in text, text
    assert any("This file is 1.0 MB." in t for t in too_large), too_large
    shot(page, "refused-files")
    # The browser logs each refused request (401, 413, 415) itself; nothing else may be logged.
    assert not page_errors(console), console.errors


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
