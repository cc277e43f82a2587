"""The page in a real browser (issue 20 point 2, docs/web.md): Debian's chromium driven by
Playwright against a real server, no browser download. Uploads by drag and drop, streamed answers,
citations with their highlighted quote (on the PDF page too), feedback, deletion, the mobile
viewport and dark mode, axe-core with no serious or critical violation, and no console error.
Screenshots are kept under $DOCRAG_TEST_ARTIFACTS (default tests/artifacts/web, git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from docrag.settings import Settings
from docs_factory import make_pdf
from web_browser import ask, axe_violations, chromium, drop_files, open_page, shot, sign_in

pytest.importorskip("playwright.sync_api")

UPLOAD_LIMIT = 200_000  # bytes: small, so that the page's "too large" message can be seen
COLLECTION = "webtest"
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


def test_clear_messages_for_a_wrong_key_and_refused_files(
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
            ("huge.txt", "text/plain", b"word " * (UPLOAD_LIMIT // 4)),
        ],
    )
    failed = page.locator("#uploads li[data-status=failed]")
    failed.nth(1).wait_for()
    texts = failed.all_inner_texts()
    assert any("not supported" in t and "unsupported_file_type" in t for t in texts), texts
    assert any("larger than this server accepts" in t for t in texts), texts
    shot(page, "refused-files")
    # The browser logs each refused request (401, 413, 415) itself; nothing else may be logged.
    unexpected = [e for e in console.errors if "Failed to load resource" not in e]
    assert not unexpected, unexpected
