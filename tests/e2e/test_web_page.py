"""The page in a real browser (issue 20 point 2, docs/web.md): Debian's chromium driven by
Playwright against a real server, no browser download. Uploads by drag and drop, streamed answers,
citations with their highlighted quote (on the PDF page too), feedback, deletion, the mobile
viewport and dark mode, axe-core with no serious or critical violation, and no console error.
Screenshots are kept under $DOCRAG_TEST_ARTIFACTS (default tests/artifacts/web, git-ignored).
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import paths
from ci_strict import require
from docrag.settings import Settings
from docs_factory import make_pdf

require(importlib.util.find_spec("playwright") is not None, "playwright (the dev extra)")
playwright_api = importlib.import_module("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("DOCRAG_TEST_ARTIFACTS", paths.ARTIFACTS / "web"))
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
    require(Path(CHROMIUM).exists(), f"chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def open_page(browser: Any, base_url: str, **context: Any) -> tuple[Any, Console]:
    page = browser.new_context(base_url=base_url, **context).new_page()
    page.set_default_timeout(30_000)
    console = Console(page)
    page.goto("/")
    return page, console


def sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key", exact=True).fill(key)
    page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#library-view:not([hidden])")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']}" for v in found if v["impact"] in ("serious", "critical")
    ]


def drop_files(page: Any, files: list[tuple[str, str, bytes]]) -> None:
    """Drag and drop: a DataTransfer holding the files, dropped on the drop zone."""
    payload = [{"name": n, "type": t, "b64": base64.b64encode(d).decode()} for n, t, d in files]
    transfer = page.evaluate_handle(
        """(files) => { const dt = new DataTransfer();
          for (const f of files) dt.items.add(new File(
            [Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
          return dt; }""",
        payload,
    )
    page.dispatch_event("#drop", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def ask(page: Any, question: str) -> Any:
    """Ask in the chat; returns the new answer's element once the stream has ended."""
    before = page.locator("#thread .turn").count()
    page.get_by_label(re.compile("^Question about")).fill(question)
    with page.expect_response(lambda r: r.url.endswith("/v1/ask")) as streamed:
        page.get_by_role("button", name="Ask", exact=True).click()
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    turn = page.locator("#thread .turn").nth(before)
    turn.locator(".answer").wait_for()
    return turn


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
