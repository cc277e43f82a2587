"""Work other than a parse in the parse sandbox (the cited PDF page's rendering, api/routes/pages.py):
a task's typed error comes back with its class and status, and a task that crashes its child or runs
out of time fails its own call only, not the calling process, and the next call gets a fresh child."""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator

import pytest

from docrag.errors import NotFound, ParseTimeout, UnreadableFile
from docrag.ingest.parsers import ParseLimits
from docrag.ingest.pdf_pages import render_png
from docrag.ingest.sandbox import ParseSandbox
from docs_factory import make_pdf


def _not_found(what: str) -> None:
    raise NotFound(f"{what} not found", code="page_not_found")


def _segfault() -> None:
    ctypes.string_at(0)  # a C library crashing on a file


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _pid() -> int:
    return os.getpid()


@pytest.fixture
def sandbox() -> Iterator[ParseSandbox]:
    box = ParseSandbox(ParseLimits(), timeout_seconds=3, memory_mb=1024)
    yield box
    box.close()


def test_a_task_runs_in_a_child_and_its_typed_error_keeps_its_status(sandbox: ParseSandbox) -> None:
    assert sandbox.run(_pid) != os.getpid()
    with pytest.raises(NotFound) as missing:
        sandbox.run(_not_found, "page 9")
    assert missing.value.code == "page_not_found" and missing.value.status == 404
    png = sandbox.run(render_png, make_pdf([["A page rendered in the sandbox."]]), 1)
    assert png.startswith(b"\x89PNG")


def test_a_crashing_or_endless_task_fails_its_call_and_the_next_one_works(sandbox: ParseSandbox) -> None:
    first = sandbox.run(_pid)
    with pytest.raises(UnreadableFile):
        sandbox.run(_segfault)
    with pytest.raises(ParseTimeout):
        sandbox.run(_sleep, 30)
    after = sandbox.run(_pid)
    assert after not in (first, os.getpid())
