"""The browser side of the page's tests (tests/e2e/test_web_*.py, docs/web.md): Debian's chromium driven
by Playwright (never a downloaded browser), a page per test with its console watched, sign-in,
screenshots under $DOCRAG_TEST_ARTIFACTS (default tests/artifacts/web, git-ignored), axe-core."""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paths
from ci_strict import require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("DOCRAG_TEST_ARTIFACTS", paths.ARTIFACTS / "web"))


@contextmanager
def chromium() -> Iterator[Any]:
    """The browser, or a skip where chromium is missing (a failure with CI=true)."""
    require(Path(CHROMIUM).exists(), f"chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
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
