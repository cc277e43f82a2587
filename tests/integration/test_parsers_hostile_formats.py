"""Hostile and broken files of the issue-19 formats, through the parse sandbox: each is refused
with its typed code and a readable message, never an untyped error, and the sandbox survives."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest

import paths
from docrag.errors import DocRAGError
from docrag.ingest.parsers import ParseLimits
from docrag.ingest.sandbox import ParseSandbox
from office_files import eml_bytes, pptx_bytes, rewrite_zip, xlsx_bytes

DOCS = paths.DOCS / "unstructured"
_MiB = 1024 * 1024
#: The start of an OLE2 compound file (legacy Office, Outlook, encrypted OOXML).
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ParseSandbox]:
    box = ParseSandbox(
        ParseLimits(max_pages=5, max_decompressed_bytes=20 * _MiB), timeout_seconds=60, memory_mb=1024
    )
    yield box
    box.close()


def refused(sandbox: ParseSandbox, data: bytes, name: str) -> DocRAGError:
    with pytest.raises(DocRAGError) as caught:
        sandbox.parse(data, name)
    error = caught.value
    assert error.code != "internal_error"
    assert len(error.message) > 15, error.message
    return error


def with_member(data: bytes, name: str, content: bytes, *, encrypted: bool = False) -> bytes:
    """``data`` with one more member; ``encrypted`` sets its "encrypted" flag bit (zipfile can't
    write encrypted members, and the flag is what marks them)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    patched = bytearray(out.getvalue())
    if encrypted:
        patched[patched.rfind(b"PK\x03\x04") + 6] |= 1  # the last member's local header
        patched[patched.rfind(b"PK\x01\x02") + 8] |= 1  # and its central directory entry
    return bytes(patched)


def test_corrupt_containers(sandbox: ParseSandbox) -> None:
    pptx = pptx_bytes(1)
    assert refused(sandbox, pptx[: len(pptx) // 2], "deck.pptx").code == "unreadable_file"
    broken = rewrite_zip(xlsx_bytes(1), "xl/workbook.xml", lambda xml: xml[: len(xml) // 2])
    assert refused(sandbox, broken, "book.xlsx").code == "unreadable_file"
    assert refused(sandbox, b"name,x\n" + b"\xff\xfe\x00" * 3, "bad.json").code in (
        "unreadable_file",
        "unsupported_file_type",
    )
    assert refused(sandbox, b'{"a": [1, 2', "cut.json").code == "unreadable_file"


def test_damaged_mail_and_ebooks(sandbox: ParseSandbox) -> None:
    fake_msg = OLE + "__properties_version1.0".encode("utf-16-le") + b"\x00" * 64
    assert refused(sandbox, fake_msg, "mail.msg").code == "unreadable_file"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        archive.writestr("OEBPS/book.opf", "<package/>")  # no META-INF/container.xml
    assert refused(sandbox, out.getvalue(), "book.epub").code == "unreadable_file"
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content")  # cut short
    assert refused(sandbox, odt.getvalue(), "doc.odt").code == "unreadable_file"


def test_zip_bomb_and_too_many_parts(sandbox: ParseSandbox) -> None:
    bomb = with_member(xlsx_bytes(1), "xl/media/zeros.bin", b"\x00" * (30 * _MiB))
    assert len(bomb) < 200_000
    assert refused(sandbox, bomb, "book.xlsx").code == "decompression_bomb"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip")
        for i in range(10_001):
            archive.writestr(f"p{i}", b"")
    assert refused(sandbox, out.getvalue(), "many.epub").code == "decompression_bomb"


def test_xml_entities_are_refused(sandbox: ParseSandbox) -> None:
    laughs = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    data = rewrite_zip(pptx_bytes(1), "ppt/slides/slide1.xml", lambda xml: laughs + xml.split(b"?>", 1)[1])
    error = refused(sandbox, data, "deck.pptx")
    assert error.code == "unreadable_file" and "entities" in error.message


def test_encrypted_files(sandbox: ParseSandbox) -> None:
    locked = with_member(xlsx_bytes(1), "xl/secret.xml", b"<x/>", encrypted=True)
    assert refused(sandbox, locked, "book.xlsx").code == "encrypted_file"
    ole = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 500
        + "EncryptedPackage".encode("utf-16-le")
        + b"\x00" * 100
    )
    assert refused(sandbox, ole, "locked.xlsx").code == "encrypted_file"
    smime = eml_bytes().replace(b"Content-Type: text/plain", b"Content-Type: application/pkcs7-mime")
    assert refused(sandbox, smime, "mail.eml").code == "encrypted_file"
    shared = DOCS / "password_protected.xlsx"
    if shared.is_file():
        assert refused(sandbox, shared.read_bytes(), shared.name).code == "encrypted_file"


def huge_sheet(rows: int) -> bytes:
    """An XLSX whose sheet spans 1,000 columns on ``rows`` rows (two filled cells a row: small
    on disk, but every row is read as 1,000 cells)."""
    cells = "".join(
        f'<row r="{r}"><c r="A{r}" t="n"><v>{r}</v></c><c r="ALL{r}" t="n"><v>1</v></c></row>'
        for r in range(1, rows + 1)
    ).encode()

    def change(xml: bytes) -> bytes:
        head, rest = xml.split(b"<sheetData>", 1)
        return head + b"<sheetData>" + cells + b"</sheetData>" + rest.split(b"</sheetData>", 1)[1]

    return rewrite_zip(xlsx_bytes(1), "xl/worksheets/sheet1.xml", change)


def test_size_limits(sandbox: ParseSandbox) -> None:
    error = refused(sandbox, huge_sheet(2_100), "huge.xlsx")  # 2.1 million cells
    assert error.code == "file_too_large" and "cells" in error.message
    assert "ALL" not in sandbox.parse(huge_sheet(100), "wide.xlsx").text  # under the cap: indexed
    huge = ("x," * 999 + "x\n").encode() * 2_100  # 2.1 million cells
    error = refused(sandbox, huge, "huge.csv")
    assert error.code == "file_too_large" and "cells" in error.message
    assert refused(sandbox, pptx_bytes(6), "deck.pptx").code == "too_many_pages"  # 7 slides, limit 5
    deep_json = b"[" * 100_000 + b"]" * 100_000
    assert refused(sandbox, deep_json, "deep.json").code == "unreadable_file"
    deep_rtf = b"{\\rtf1 " + b"{" * 1_000 + b"x" + b"}" * 1_000 + b"}"
    assert refused(sandbox, deep_rtf, "deep.rtf").code == "unreadable_file"


def test_unsupported_variants_and_empty_files(sandbox: ParseSandbox) -> None:
    legacy = OLE + "Workbook".encode("utf-16-le") + b"\x00" * 64
    error = refused(sandbox, legacy, "old.xls")
    assert error.code == "unsupported_file_type" and ".xlsx" in error.message
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.presentation")
    assert refused(sandbox, out.getvalue(), "talk.odp").code == "unsupported_file_type"
    from openpyxl import Workbook

    empty = io.BytesIO()
    Workbook().save(empty)
    assert refused(sandbox, empty.getvalue(), "empty.xlsx").code == "no_text_found"
    assert sandbox.parse(b"a,b\n", "header-only.csv").text == "a | b"
    # the sandbox still parses after all of the above
    assert "Quarterly review 1" in sandbox.parse(pptx_bytes(1), "deck.pptx").text
