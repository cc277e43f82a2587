"""Parsers on real documents from shared/data/docs: structure, pages, offsets and errors."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from ci_strict import needs
from docrag.domain import BlockKind, ParsedDocument
from docrag.errors import (
    DocRAGError,
    EmptyFile,
    EncryptedFile,
    FileTooLarge,
    NoTextFound,
    UnreadableFile,
    UnsupportedFileType,
)
from docrag.ingest.detect import DOCX, HTML, MARKDOWN, PDF, TEXT
from docrag.ingest.parsers import BOUNDED_PARSERS, PARSERS, parse
from docrag.ingest.parsers.docx import parse_docx
from paths import DOCS

SAMPLES = DOCS / "pypdf_sample_files"
RESOURCES = DOCS / "pypdf_resources" / "resources"
UNSTRUCTURED = DOCS / "unstructured"

pytestmark = needs(DOCS.is_dir(), f"the evaluation data {DOCS}")


def load(path: Path) -> ParsedDocument:
    doc = parse(path.read_bytes(), path.name)
    check_offsets(doc)
    return doc


def check_offsets(doc: ParsedDocument) -> None:
    """Blocks tile ``text`` in order without overlapping, and each span is clean text."""
    previous_end = 0
    for block in doc.blocks:
        span = doc.text[block.start : block.end]
        assert span, block
        assert span == span.strip(), block
        assert block.start >= previous_end, block
        previous_end = block.end
    assert doc.blocks[-1].end == len(doc.text)


def texts(doc: ParsedDocument, kind: BlockKind | None = None) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if kind is None or b.kind is kind]


def test_parsers_registry() -> None:
    assert {PDF, DOCX, HTML, MARKDOWN, TEXT} <= set(PARSERS)
    assert set(PARSERS).isdisjoint(BOUNDED_PARSERS)


# --- PDF ----------------------------------------------------------------------------------------


def test_pdf_page_counts_match_files_json() -> None:
    listing = json.loads((SAMPLES / "files.json").read_text())["data"]
    checked = 0
    for entry in listing:
        path = SAMPLES / entry["path"]
        if entry.get("encrypted") or not path.exists():
            continue
        try:
            doc = load(path)
        except NoTextFound:
            continue  # image-only samples
        except UnreadableFile:
            # pypdf itself can't read this page tree ("Invalid object in /Pages")
            assert entry["path"].startswith("017-unreadable-meta-data/")
            continue
        assert doc.page_count == entry["pages"], entry["path"]
        assert all(b.page is not None and 1 <= b.page <= entry["pages"] for b in doc.blocks)
        checked += 1
    assert checked >= 10


def test_pdf_multi_page_blocks_on_later_pages() -> None:
    doc = load(SAMPLES / "004-pdflatex-4-pages" / "pdflatex-4-pages.pdf")
    assert doc.mime == PDF
    assert doc.page_count == 4
    assert {b.page for b in doc.blocks} == {1, 2, 3, 4}
    starts = doc.page_starts()
    assert len(starts) == 4 and starts == sorted(starts)
    page2 = " ".join(t for b, t in zip(doc.blocks, texts(doc), strict=True) if b.page == 2)
    assert page2.startswith("information. Really? Is there no information?")
    # lines of a paragraph are joined with spaces, not newlines
    assert "\n" not in texts(doc)[0]


def test_pdf_outline_becomes_headings() -> None:
    doc = load(SAMPLES / "006-pdflatex-outline" / "pdflatex-outline.pdf")
    headings = [(b.page, doc.text[b.start : b.end]) for b in doc.blocks if b.kind is BlockKind.HEADING]
    assert (2, "1 Foo") in headings
    assert (3, "5 Bar") in headings
    assert (4, "9 Baz") in headings
    after = next(i for i, b in enumerate(doc.blocks) if doc.text[b.start : b.end] == "5 Bar")
    follower = doc.blocks[after + 1]
    assert follower.heading_path == ("5 Bar",)
    assert follower.page == 3
    assert doc.text[follower.start : follower.end].startswith("Hello, here is some text")


def test_pdf_text_of_crazyones() -> None:
    doc = load(RESOURCES / "crazyones.pdf")
    assert doc.text.startswith("The Crazy Ones October 14, 1998")
    # PDFium spells the "ﬁ" ligature out, so a search for "misfits" finds it.
    assert "to the crazy ones. The misfits. The rebels." in doc.text
    assert doc.page_count == 1


def test_pdf_dehyphenates_line_breaks() -> None:
    from docrag.domain import DocumentBuilder
    from docrag.ingest.parsers.pdf import _flush

    builder = DocumentBuilder(PDF)
    _flush(builder, ["an exam-", "ple of text and well-", "Known names"], 1)
    assert builder.build().text == "an example of text and well- Known names"


@pytest.mark.parametrize(
    "path",
    [
        SAMPLES / "005-libreoffice-writer-password" / "libreoffice-writer-password.pdf",
        RESOURCES / "encryption" / "r2-user-password.pdf",
        RESOURCES / "encryption" / "r4-user-password.pdf",
        RESOURCES / "encrypted-file.pdf",
    ],
    ids=lambda p: p.name,
)
def test_pdf_encrypted(path: Path) -> None:
    with pytest.raises(EncryptedFile):
        parse(path.read_bytes(), path.name)


def test_pdf_encrypted_with_empty_user_password_is_read() -> None:
    doc = load(RESOURCES / "encryption" / "r3-empty-password.pdf")
    assert doc.text.strip()
    assert load(RESOURCES / "encryption" / "r2-owner-password.pdf").text.strip()


def test_pdf_without_text_layer() -> None:
    with pytest.raises(NoTextFound):
        parse((RESOURCES / "imagemagick-lzw.pdf").read_bytes(), "scan.pdf")


def test_pdf_truncated_is_unreadable() -> None:
    data = (SAMPLES / "004-pdflatex-4-pages" / "pdflatex-4-pages.pdf").read_bytes()
    with pytest.raises(UnreadableFile):
        parse(data[:300], "truncated.pdf")
    with pytest.raises(UnreadableFile):
        parse(b"%PDF-1.7\n" + b"\xff" * 64, "garbage.pdf")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "path", sorted(RESOURCES.rglob("*.pdf")) if RESOURCES.is_dir() else [], ids=lambda p: p.name
)
def test_every_odd_pdf_parses_or_raises_typed_error(path: Path) -> None:
    try:
        doc = parse(path.read_bytes(), path.name)
    except DocRAGError:
        return
    check_offsets(doc)
    assert doc.mime == PDF
    assert doc.page_count is not None and doc.page_count >= 1


# --- DOCX ---------------------------------------------------------------------------------------


def test_docx_headings_nest_and_lists() -> None:
    doc = load(UNSTRUCTURED / "category-level.docx")
    assert doc.mime == DOCX
    by_text = {doc.text[b.start : b.end]: b for b in doc.blocks}
    assert by_text["A Heading 1"].kind is BlockKind.HEADING and by_text["A Heading 1"].level == 1
    assert by_text["A Heading 2"].level == 2
    assert by_text["A Heading 2"].heading_path == ("A Heading 1",)
    following = doc.blocks[doc.blocks.index(by_text["A Heading 2"]) + 1]
    assert following.heading_path == ("A Heading 1", "A Heading 2")
    assert doc.text[following.start : following.end].startswith("This is my substitute for pistol")
    after_reset = doc.blocks[doc.blocks.index(by_text["Another Heading 1"]) + 1]
    assert after_reset.heading_path == ("Another Heading 1",)
    assert texts(doc, BlockKind.LIST_ITEM) == [
        "A top level list item",
        "Next level",
        "Same",
        "Second top-level list item",
    ]
    assert by_text["Next level"].heading_path == ("A Heading 1",)
    assert doc.blocks[0].heading_path == ()
    assert doc.title == "A Heading 1"


def test_docx_numbered_list_items() -> None:
    doc = load(UNSTRUCTURED / "example-list-items-multiple.docx")
    items = texts(doc, BlockKind.LIST_ITEM)
    assert "Trying various lists." in items
    assert "The quick brown fox jumps over the lazy dog." in items
    assert "Lorem Ipsum 2" in texts(doc, BlockKind.PARAGRAPH)


def test_docx_tables_in_body_order() -> None:
    doc = load(UNSTRUCTURED / "docx-tables.docx")
    kinds = [b.kind for b in doc.blocks]
    assert kinds == [BlockKind.PARAGRAPH, BlockKind.TABLE] * 3
    tables = texts(doc, BlockKind.TABLE)
    # Each row names its columns (docrag/ingest/tables.py); merged cells are not repeated across.
    assert tables[0] == "Header Col 1: Lorem ipsum | Header Col 2: A link example"
    assert tables[1].splitlines()[0] == "a: d | c: i"
    assert tables[2].splitlines() == ["a | b: c | d", "a: e | d"]
    assert texts(doc)[0] == "Simple uniform table"


def test_docx_zip_bomb_limit() -> None:
    data = (UNSTRUCTURED / "handbook-1p.docx").read_bytes()
    with pytest.raises(FileTooLarge):
        parse_docx(data, max_uncompressed=10_000)
    assert parse_docx(data).blocks


def _rewrite_docx(data: bytes, name: str, content: bytes) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info.filename))
    return out.getvalue()


def test_docx_with_dtd_is_refused() -> None:
    data = (UNSTRUCTURED / "fake.docx").read_bytes()
    with zipfile.ZipFile(BytesIO(data)) as archive:
        xml = archive.read("word/document.xml")
    evil = xml.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', 1)
    with pytest.raises(UnreadableFile, match="DTD"):
        parse(_rewrite_docx(data, "word/document.xml", evil), "evil.docx")


def test_docx_broken_xml_is_unreadable() -> None:
    data = (UNSTRUCTURED / "fake.docx").read_bytes()
    with pytest.raises(UnreadableFile):
        parse(_rewrite_docx(data, "word/document.xml", b"<w:document"), "broken.docx")


# --- HTML ---------------------------------------------------------------------------------------


def test_html_structure() -> None:
    doc = load(UNSTRUCTURED / "fake-html.html")
    assert doc.mime == HTML
    assert doc.title == "My First Heading"
    headings = [(b.level, doc.text[b.start : b.end]) for b in doc.blocks if b.kind is BlockKind.HEADING]
    assert headings[:3] == [(1, "My First Heading"), (2, "My Second Heading"), (3, "A Third Heading")]
    assert "With sub-bullets!" in texts(doc, BlockKind.LIST_ITEM)
    table = texts(doc, BlockKind.TABLE)[0]
    assert table.splitlines()[:2] == [
        "Column 1: Row 1, Cell 1 | Column 2: Row 1, Cell 2",
        "Column 1: Row 2, Cell 1 | Column 2: Row 2, Cell 2",
    ]
    table_block = next(b for b in doc.blocks if b.kind is BlockKind.TABLE)
    assert table_block.heading_path == ("My First Heading", "My Second Heading", "A Third Heading")


def test_html_drops_scripts_and_styles() -> None:
    doc = load(UNSTRUCTURED / "example-with-scripts.html")
    assert doc.title is not None and doc.title.startswith("Russian Offensive Campaign Assessment")
    assert "GoogleAnalyticsObject" not in doc.text
    assert "stLight" not in doc.text
    assert "jQuery" not in doc.text
    assert "switchTo5x" not in doc.text
    heading = next(b for b in doc.blocks if b.kind is BlockKind.HEADING)
    assert doc.text[heading.start : heading.end] == "Russian Offensive Campaign Assessment, December 13"
    assert "Key Takeaways" in doc.text
    assert any(t.startswith("Belarusian forces remain unlikely") for t in texts(doc, BlockKind.LIST_ITEM))


def test_html_drops_header_and_footer() -> None:
    raw = (UNSTRUCTURED / "fake-html-with-footer-and-header.html").read_text()
    doc = load(UNSTRUCTURED / "fake-html-with-footer-and-header.html")
    assert "<footer" in raw.lower() and "<header" in raw.lower()
    assert len(doc.blocks) == 2
    assert texts(doc)[0] == "My First Heading"


def test_html_layout_table_and_br_paragraphs() -> None:
    doc = load(UNSTRUCTURED / "ideas-page.html")
    assert doc.title == "How to Get New Ideas"
    assert not texts(doc, BlockKind.TABLE)
    assert texts(doc)[0] == "January 2023"
    assert any(t.startswith("The way to get new ideas is to notice anomalies") for t in texts(doc))


def test_html_utf16_matches_utf8() -> None:
    a = load(UNSTRUCTURED / "example-steelJIS-datasheet.html")
    b = load(UNSTRUCTURED / "example-steelJIS-datasheet-utf-16.html")
    assert a.text == b.text
    assert a.title is not None and a.title.startswith("SNB22-3")


def test_html_unclosed_head_still_reads_body() -> None:
    doc = load(UNSTRUCTURED / "fake-html-with-duplicate-elements.html")
    assert texts(doc, BlockKind.HEADING) == ["Example heading.", "Example heading."]
    assert "This is a span." in doc.text


def test_html_pre_is_code() -> None:
    doc = load(UNSTRUCTURED / "fake-html-pre.htm")
    assert doc.blocks[0].kind is BlockKind.CODE
    assert "107th Congress" in doc.text


# --- Markdown -----------------------------------------------------------------------------------


def test_markdown_headings_lists_code() -> None:
    doc = load(UNSTRUCTURED / "README.md")
    assert doc.mime == MARKDOWN
    items = texts(doc, BlockKind.LIST_ITEM)
    assert items[0] == "example-10k.html - A 10-K SEC filing in HTML format"
    assert len(items) == 3
    xbrl = next(b for b in doc.blocks if doc.text[b.start : b.end] == "XBRL 10-K")
    assert xbrl.kind is BlockKind.HEADING and xbrl.level == 4
    assert xbrl.heading_path == ("Example Docs",)
    code = next(b for b in doc.blocks if b.kind is BlockKind.CODE)
    assert code.heading_path == ("Example Docs", "XBRL 10-K")
    assert doc.text[code.start : code.end].startswith("curl -O")
    assert "`" not in doc.text


def test_markdown_code_fences_keep_html_as_code() -> None:
    doc = load(UNSTRUCTURED / "codeblock.md")
    assert [b.kind for b in doc.blocks] == [
        BlockKind.HEADING,
        BlockKind.CODE,
        BlockKind.HEADING,
        BlockKind.CODE,
        BlockKind.CODE,
    ]
    assert "<h1>Hello, World!</h1>" in texts(doc, BlockKind.CODE)[0]


def test_markdown_table() -> None:
    doc = load(UNSTRUCTURED / "simple-table.md")
    assert texts(doc, BlockKind.TABLE) == [
        "Item | Price | # In stock\nJuicy Apples | 1.99 | 739\nBananas | 1.89 | 6"
    ]


def test_markdown_links_front_matter_and_nesting() -> None:
    source = (
        "---\ntitle: Demo\ntags: [a, b]\n---\n"
        "# Guide\n\nSee [the docs](https://example.com/docs) and ![logo](logo.png).\n\n"
        "## Install\n\n- first step\n- second step\n  - nested step\n\n### Notes\n\nDone.\n"
    )
    doc = parse(source.encode(), "guide.md")
    check_offsets(doc)
    assert "title: Demo" not in doc.text
    assert "See the docs and ." in doc.text
    assert "https://example.com" not in doc.text and "logo.png" not in doc.text
    assert texts(doc, BlockKind.LIST_ITEM) == ["first step", "second step", "nested step"]
    notes = next(b for b in doc.blocks if doc.text[b.start : b.end] == "Done.")
    assert notes.heading_path == ("Guide", "Install", "Notes")
    assert doc.title == "Guide"


# --- Plain text ---------------------------------------------------------------------------------


def test_text_paragraphs() -> None:
    doc = load(UNSTRUCTURED / "fake-text.txt")
    assert doc.mime == TEXT
    assert texts(doc) == [
        "This is a test document to use for unit tests.",
        "Doylestown, PA 18901",
        "Important points:",
        "- Hamburgers are delicious\n- Dogs are the best\n- I love fuzzy blankets",
    ]
    assert all(b.kind is BlockKind.PARAGRAPH and b.page is None for b in doc.blocks)


def test_text_utf16_and_utf32_with_bom() -> None:
    expected = texts(load(UNSTRUCTURED / "fake-text.txt"))
    for name in ("fake-text-utf-16.txt", "fake-text-utf-16-le.txt", "fake-text-utf-32.txt"):
        assert texts(load(UNSTRUCTURED / name)) == expected, name


def test_text_misnamed_as_pdf_is_text() -> None:
    doc = parse((UNSTRUCTURED / "fake-text.txt").read_bytes(), "report.pdf")
    assert doc.mime == TEXT
    assert doc.page_count is None


def test_large_text_book() -> None:
    doc = load(UNSTRUCTURED / "book-war-and-peace-1p.txt")
    assert len(doc.blocks) > 5


# --- Errors -------------------------------------------------------------------------------------


def test_errors_are_typed() -> None:
    with pytest.raises(EmptyFile):
        parse(b"", "empty.pdf")
    with pytest.raises(EmptyFile):
        parse((UNSTRUCTURED / "empty.txt").read_bytes(), "empty.txt")
    with pytest.raises(UnsupportedFileType):
        parse((UNSTRUCTURED / "img" / "DA-1p.png").read_bytes(), "scan.pdf")
    with pytest.raises(UnsupportedFileType):
        parse((UNSTRUCTURED / "simple.zip").read_bytes(), "archive.docx")
    with pytest.raises(UnsupportedFileType):
        parse((UNSTRUCTURED / "CantinaBand3.wav").read_bytes(), "talk.txt")
    with pytest.raises(UnreadableFile):
        parse((UNSTRUCTURED / "fake-html-cp1252.html").read_bytes(), "fake-html-cp1252.html")
    with pytest.raises(NoTextFound):
        parse(b"<html><body><script>var x = 1;</script></body></html>", "page.html")
    with pytest.raises(NoTextFound):
        parse(b"```\n```\n\n# \n", "empty.md")


def test_a_known_type_is_parsed_as_that_without_detecting_again() -> None:
    # A queued upload's type was detected at submit (jobs/submit.py); the worker passes it on.
    data = b"# Notes\n\nThe heron waits by the water.\n"
    assert parse(data, "notes.md").mime == MARKDOWN  # detected: the name breaks the tie
    as_known = parse(data, "notes.md", mime=TEXT)
    assert as_known.mime == TEXT and as_known.blocks[0].kind != BlockKind.HEADING
