"""Fuzzing every parser: random bytes and mutated seed documents either parse or fail typed.

The outcome of ``parse()`` is a :class:`ParsedDocument` or a :class:`DocRAGError` subclass,
nothing else. Most examples run in-process (fast); a few go through the sandbox, and so does
every PDF of pypdf's own collection of odd and damaged files, under the production limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError
from docrag.ingest.parsers import ParseLimits, parse
from docrag.ingest.sandbox import ParseSandbox
from docrag.settings import Settings
from docs_factory import make_docx, make_pdf
from paths import DOCS

SEEDS: dict[str, bytes] = {
    "seed.pdf": make_pdf([["Fuzzing starts from a small PDF.", "Two lines here."], ["A second page."]], "T"),
    "seed.docx": make_docx(
        "Seed", [("Part", ["A paragraph of the seed document."])], [["a", "b"], ["1", "2"]]
    ),
    "seed.html": (
        b"<!doctype html><html><head><title>Seed</title></head><body><h1>Head</h1><p>Para <b>bold</b>"
        b"<br><br>next</p><ul><li>one</li><li>two</li></ul><table><tr><td>1</td><td>2</td></tr></table>"
        b"<pre>code</pre></body></html>"
    ),
    "seed.md": (
        b"---\ntitle: x\n---\n# Title\n\n## Sub\n\n- a\n  - b\n1. c\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        b"```\ncode\n```\n\n> quote [link](http://x)\n"
    ),
    "seed.txt": b"Plain text first paragraph.\n\nSecond paragraph \xc3\xa9t\xc3\xa9.\r\n",
}
LIMITS = ParseLimits(max_pages=50, max_decompressed_bytes=16 * 1024 * 1024)
FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def check(data: bytes, name: str, parser: ParseSandbox | None = None) -> None:
    try:
        document = parser.parse(data, name) if parser is not None else parse(data, name, LIMITS)
    except DocRAGError as exc:
        assert exc.code and exc.message is not None
        return
    assert isinstance(document, ParsedDocument)
    assert document.blocks and all(0 <= b.start < b.end <= len(document.text) for b in document.blocks)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed after a few bit flips, byte overwrites, deletions, splices and a truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "byte", "delete", "splice", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and data:
            data[at] = draw(st.sampled_from([0, 0xFF, 0x0A, 0x28, 0x3C, 0x25, 0x80]))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=4096), name=st.sampled_from([None, *SEEDS]))
def test_random_bytes(data: bytes, name: str | None) -> None:
    check(data, name or "upload")


@FUZZ
@given(data=st.sampled_from(list(SEEDS)).flatmap(lambda name: st.tuples(st.just(name), mutated(SEEDS[name]))))
def test_mutated_documents(data: tuple[str, bytes]) -> None:
    check(data[1], data[0])


@pytest.mark.parametrize("name", list(SEEDS))
def test_seeds_parse(name: str) -> None:
    assert parse(SEEDS[name], name).blocks


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParseSandbox]:
    defaults = Settings()
    parser = ParseSandbox(
        ParseLimits(max_pages=defaults.max_pages, max_decompressed_bytes=defaults.max_decompressed_bytes),
        timeout_seconds=defaults.parse_timeout_seconds,
        memory_mb=defaults.worker_memory_mb,
    )
    yield parser
    parser.close()


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.sampled_from(list(SEEDS)).flatmap(lambda name: st.tuples(st.just(name), mutated(SEEDS[name]))))
def test_mutated_documents_in_the_sandbox(sandbox: ParseSandbox, data: tuple[str, bytes]) -> None:
    check(data[1], data[0], sandbox)


# --- pypdf's odd and damaged PDFs ------------------------------------------------------------------

RESOURCES = DOCS / "pypdf_resources"


def _manifest_pdfs() -> list[Path]:
    manifest = RESOURCES / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    paths = [RESOURCES / line.split("\t")[2] for line in manifest.read_text().splitlines() if line.strip()]
    return [p for p in paths if p.suffix == ".pdf" and p.is_file()]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", _manifest_pdfs(), ids=lambda p: p.name)
def test_every_pypdf_resource_ends_in_a_final_state(sandbox: ParseSandbox, path: Path) -> None:
    started = time.monotonic()
    check(path.read_bytes(), path.name, sandbox)
    assert time.monotonic() - started < sandbox.timeout_seconds + 10
