"""Hostile files crafted in the tests: zip bombs, billion laughs, broken page trees, huge documents."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from docs_factory import build_pdf, make_docx, make_pdf

MiB = 1024 * 1024

BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>
"""


def good_docx(word: str = "harbour") -> bytes:
    return make_docx(
        f"On the {word}",
        [("Facts", [f"The {word} was rebuilt in stone after the storm of the old century."])],
        [["a", "b"], ["1", "2"]],
    )


def rewrite_zip(data: bytes, replace: dict[str, bytes], add: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def bomb_docx(expanded: int) -> bytes:
    """A valid DOCX plus a part of ``expanded`` zero bytes (compressed ~1000:1), written in slices."""
    out = io.BytesIO(good_docx())
    with (
        zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("word/media/image1.bin", "w", force_zip64=expanded > 2**31) as part,
    ):
        block = bytes(MiB)
        for _ in range(expanded // MiB):
            part.write(block)
        part.write(bytes(expanded % MiB))
    return out.getvalue()


def lying_bomb_docx(expanded: int, declared: int = 1000) -> bytes:
    """A zip bomb whose local and central headers declare the bomb part ``declared`` bytes long."""
    data = bytearray(bomb_docx(expanded))
    name = b"word/media/image1.bin"
    local = data.index(name) - 30  # the first mention is the local header's
    assert data[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, local + 22, declared)
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.index(b"PK\x01\x02", at + 4)
    struct.pack_into("<I", data, at + 24, declared)
    return bytes(data)


def laughs_docx(leading_comment: int = 0) -> bytes:
    """A DOCX whose document.xml is the billion laughs, its DTD after a comment of that many bytes."""
    xml = BILLION_LAUGHS
    if leading_comment:
        head, rest = xml.split(b"?>", 1)
        xml = head + b"?><!--" + b" " * leading_comment + b"-->" + rest
    return rewrite_zip(good_docx(), {"word/document.xml": xml})


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: int, parent: int = 2) -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (parent, contents)
    )


def _stream(content: bytes, *, flate: bool = False) -> bytes:
    if flate:
        packed = zlib.compress(content, 9)
        return b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream"
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


TEXT_OPS = b"BT /F1 12 Tf 72 700 Td (A real page of the document.) Tj ET"


def lying_count_pdf(count: int = 1_000_000) -> bytes:
    """One real page, but the page tree claims ``count``."""
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [4 0 R] /Count %d >>" % count,
            3: _FONT,
            4: _page(5),
            5: _stream(TEXT_OPS),
        }
    )


def circular_kids_pdf() -> bytes:
    """The page tree's /Kids holds the page tree itself (and one real page)."""
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [2 0 R 4 0 R] /Count 2 >>",
            3: _FONT,
            4: _page(5),
            5: _stream(TEXT_OPS),
        }
    )


def circular_xref_pdf() -> bytes:
    """A valid one-page PDF whose trailer's /Prev points at its own xref table."""
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            3: _FONT,
            4: _page(5),
            5: _stream(TEXT_OPS),
        },
        prev_loop=True,
    )


def flate_bomb_pdf(expanded: int) -> bytes:
    """A page whose content stream inflates to ``expanded`` bytes (text ops, then spaces)."""
    content = TEXT_OPS + b"\n" + b" " * expanded
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            3: _FONT,
            4: _page(5),
            5: _stream(content, flate=True),
        }
    )


def _one_page(page: bytes, content: bytes, extra: dict[int, bytes]) -> bytes:
    """Objects 1-5 (catalog, tree, Helvetica, ``page``, its ``content`` stream) and ``extra``."""
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            3: _FONT,
            4: page,
            5: _stream(content),
            **extra,
        }
    )


def font_bomb_pdf(expanded: int) -> bytes:
    """A page whose text font embeds a TrueType program that inflates to ``expanded`` bytes."""
    font = b"<< /Type /Font /Subtype /TrueType /BaseFont /Evil /FontDescriptor 6 0 R >>"
    descriptor = (
        b"<< /Type /FontDescriptor /FontName /Evil /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0"
        b" /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 7 0 R >>"
    )
    page = _page(5).replace(b"/F1 3 0 R", b"/F1 8 0 R")
    return _one_page(page, TEXT_OPS, {6: descriptor, 7: _stream(b" " * expanded, flate=True), 8: font})


def form_bomb_pdf(expanded: int) -> bytes:
    """A page that draws a form XObject whose content stream inflates to ``expanded`` bytes."""
    form = _stream(TEXT_OPS + b"\n" + b" " * expanded, flate=True).replace(
        b"<< ",
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> ",
        1,
    )
    page = _page(5).replace(b"/Resources << ", b"/Resources << /XObject << /Fm1 6 0 R >> ")
    return _one_page(page, b"/Fm1 Do", {6: form})


def ocr_layer_pdf(words: list[str]) -> bytes:
    """Words as an OCR tool lays them over a scan: invisible (render mode 3), each word's letters
    spread by character spacing and its last letter set apart, so glyph gaps don't show the words."""
    ops = [b"BT", b"3 Tr", b"1 0 0 1 72 700 Tm", b"/F1 11 Tf"]
    for i, word in enumerate(words):
        lead = b" " if i else b""
        ops += [
            b"2.5 Tc 80 Tz",
            b"(%s%s) Tj" % (lead, word[:-1].encode()),
            b"0 Tc",
            b"(%s) Tj" % word[-1:].encode(),
        ]
    ops.append(b"ET")
    return _one_page(_page(5), b"\n".join(ops), {})


def page_with_kids_pdf() -> bytes:
    """Three pages, the first a ``/Type /Page`` that also has an empty ``/Kids``: pypdf reads it as
    a page, PDFium as an empty branch, so PDFium's page 1 is the second page."""
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [4 0 R 6 0 R 8 0 R] /Count 3 >>",
        3: _FONT,
    }
    for n, word in enumerate((b"one", b"two", b"three")):
        objects[4 + 2 * n] = _page(5 + 2 * n).replace(
            b"/Type /Page ", b"/Type /Page /Kids [] " if n == 0 else b"/Type /Page "
        )
        objects[5 + 2 * n] = _stream(b"BT /F1 12 Tf 72 700 Td (Page %s of the report.) Tj ET" % word)
    return build_pdf(objects)


def many_pages_pdf(pages: int) -> bytes:
    return make_pdf([[f"Page {n} of the long report covers item {n}."] for n in range(1, pages + 1)])


def slow_pdf(lines: int = 40_000) -> bytes:
    """Two pages, each with ``lines`` text lines of a scan's OCR layer (invisible text): valid,
    and slow to extract. pypdf reads such a layer, in Python (docrag/ingest/parsers/pdf_text.py);
    PDFium reads visible text fast but at ~90 bytes of memory a character, so visible pages this
    long would hit the hostile-file tests' 256 MB cap before their time limit."""
    ops = [b"BT 3 Tr /F1 11 Tf 14 TL 72 760 Td"]
    ops += [b"(line %d of a very long page) Tj T*" % n for n in range(lines)]
    ops.append(b"ET")
    content = _stream(b"\n".join(ops))
    return build_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [4 0 R 6 0 R] /Count 2 >>",
            3: _FONT,
            4: _page(5),
            5: content,
            6: _page(7),
            7: content,
        }
    )


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["confidential text"]]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def hungry_text(paragraphs: int = 8_000_000) -> bytes:
    """48 MB of tiny paragraphs and one emoji: as Python text, 4 bytes a character (192 MB) at once,
    then hundreds of MB of paragraph objects."""
    return "\U0001f30a\n\n".encode() + b"para\n\n" * paragraphs
