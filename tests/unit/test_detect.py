"""File type detection decides from the bytes, using real files from shared/data/docs."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from ci_strict import needs
from docrag.errors import EmptyFile, UnreadableFile, UnsupportedFileType
from docrag.ingest.detect import DOCX, HTML, MARKDOWN, PDF, TEXT, decode_text, detect_type
from paths import DOCS

UNSTRUCTURED = DOCS / "unstructured"

pytestmark = needs(DOCS.is_dir(), f"the evaluation data {DOCS}")


def read(relative: str) -> bytes:
    return (DOCS / relative).read_bytes()


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("pypdf_sample_files/001-trivial/minimal-document.pdf", PDF),
        ("unstructured/category-level.docx", DOCX),
        ("unstructured/fake-html.html", HTML),
        ("unstructured/ideas-page.html", HTML),
        ("unstructured/example-10k.html", HTML),  # <?xml ...?> and a comment before <html>
        ("unstructured/example-steelJIS-datasheet-utf-16.html", HTML),
        ("unstructured/fake-html-pre.htm", HTML),
        ("unstructured/README.md", MARKDOWN),
        ("unstructured/codeblock.md", MARKDOWN),  # holds <html>/<body> inside fences
        ("unstructured/simple-table.md", MARKDOWN),
        ("unstructured/fake-text.txt", TEXT),
        ("unstructured/fake-text-utf-16.txt", TEXT),
        ("unstructured/fake-text-utf-16-le.txt", TEXT),
        ("unstructured/fake-text-utf-16-be.txt", TEXT),
        ("unstructured/stanley-cups.csv", "text/csv"),
        ("unstructured/factbook.xml", TEXT),
    ],
)
def test_real_files(relative: str, expected: str) -> None:
    assert detect_type(read(relative), Path(relative).name) == expected


def test_bytes_win_over_names() -> None:
    text = read("unstructured/fake-text.txt")
    assert detect_type(text, "report.pdf") == TEXT
    assert detect_type(text, "report.docx") == TEXT
    assert detect_type(read("unstructured/fake.docx"), "notes.txt") == DOCX
    assert detect_type(read("pypdf_sample_files/001-trivial/minimal-document.pdf"), "x.html") == PDF
    assert detect_type(read("unstructured/fake-html.html"), "page.md") == HTML
    # misnamed files in the corpus: the bytes are OOXML
    assert detect_type(read("unstructured/language-docs/eng_spa_mult.doc"), "eng_spa_mult.doc") == DOCX


def test_extension_only_breaks_markdown_text_ties() -> None:
    plain = b"Just a sentence.\n\nAnother one.\n"
    assert detect_type(plain, "notes.md") == MARKDOWN
    assert detect_type(plain, "notes.txt") == TEXT
    assert detect_type(plain, None) == TEXT
    assert detect_type(b"# Title\n\nBody text.\n", "notes.txt") == MARKDOWN


def test_pdf_magic_after_leading_junk() -> None:
    pdf = read("pypdf_sample_files/001-trivial/minimal-document.pdf")
    assert detect_type(b"\x00" * 500 + pdf) == PDF
    assert detect_type(b"garbage\n" * 10 + pdf) == PDF


@pytest.mark.parametrize(
    ("relative", "what"),
    [
        ("unstructured/img/bmp_24.bmp", "BMP"),
        ("unstructured/CantinaBand3.wav", "WAV"),
        ("unstructured/simple.zip", "ZIP"),
        ("unstructured/simple.doc", "legacy Word"),
        ("unstructured/tests-example.xls", "legacy Excel"),
        ("unstructured/fake-power-point.ppt", "legacy PowerPoint"),
        ("pypdf_resources/resources/lzw_decoder_table_overflow.bin", "binary"),
    ],
)
def test_unsupported(relative: str, what: str) -> None:
    with pytest.raises(UnsupportedFileType, match=what):
        detect_type(read(relative), Path(relative).name)


def test_gzip_and_elf_magic() -> None:
    with pytest.raises(UnsupportedFileType, match="gzip"):
        detect_type(b"\x1f\x8b\x08\x00" + b"\x01" * 40)
    with pytest.raises(UnsupportedFileType, match="ELF"):
        detect_type(b"\x7fELF\x02\x01\x01" + b"\x00" * 40)


def test_control_characters_are_binary() -> None:
    with pytest.raises(UnsupportedFileType):
        detect_type(bytes(range(1, 32)) * 20)


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n", codecs.BOM_UTF8 + b"  \n"])
def test_empty(data: bytes) -> None:
    with pytest.raises(EmptyFile):
        detect_type(data, "empty.txt")


def test_empty_real_files() -> None:
    for relative in ("unstructured/empty.txt", "unstructured/fake-text-all-whitespace.txt"):
        with pytest.raises(EmptyFile):
            detect_type(read(relative), relative)


def test_invalid_utf8_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="UTF-8"):
        detect_type(read("unstructured/umlauts-non-utf8.md"), "umlauts-non-utf8.md")
    with pytest.raises(UnreadableFile, match="UTF-8"):
        detect_type(b"caf\xe9 au lait\n")


def test_corrupt_docx_container() -> None:
    data = read("unstructured/fake.docx")
    with pytest.raises(UnreadableFile):
        detect_type(data[: len(data) // 2])


def test_decode_text() -> None:
    assert decode_text(codecs.BOM_UTF8 + "héllo".encode()) == "héllo"
    assert decode_text(codecs.BOM_UTF16_LE + "héllo".encode("utf-16-le")) == "héllo"
    assert decode_text(codecs.BOM_UTF16_BE + "héllo".encode("utf-16-be")) == "héllo"
    utf16 = decode_text(read("unstructured/fake-text-utf-16.txt"))
    assert utf16.split() == decode_text(read("unstructured/fake-text.txt")).split()
    assert "\x00" not in utf16
    assert decode_text(read("unstructured/umlauts-utf8.md")).count("ö") >= 1
    with pytest.raises(UnreadableFile, match="offset 4"):
        decode_text(read("unstructured/umlauts-non-utf8.md"))
