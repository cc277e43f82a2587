"""Small real documents built in the tests: a hand-written PDF and a python-docx DOCX."""

from __future__ import annotations

import io

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def _pdf_string(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF with one text line per entry of each page, in the standard Helvetica font.

    Objects: 1 catalog, 2 page tree, 3 font, 4 info, then a (page, content stream) pair per page.
    The xref table carries each object's real byte offset.
    """
    n_pages = len(pages)
    page_ids = [5 + 2 * i for i in range(n_pages)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % pid for pid in page_ids)
        + b"] /Count %d >>" % n_pages,
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: b"<< /Producer (docrag tests)" + (b" /Title " + _pdf_string(title) if title else b"") + b" >>",
    }
    for pid, lines in zip(page_ids, pages, strict=True):
        ops = [b"BT", b"/F1 11 Tf", b"14 TL", b"72 760 Td"]
        for line in lines:
            ops.append(_pdf_string(line) + b" Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects[pid] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            b" /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (pid + 1)
        )
        objects[pid + 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"

    return build_pdf(objects, info=4)


def build_pdf(
    objects: dict[int, bytes], *, root: int = 1, info: int | None = None, prev_loop: bool = False
) -> bytes:
    """A PDF of these objects with a correct xref table (missing numbers marked free);
    ``prev_loop`` makes the trailer's /Prev point back at that same xref table (a circular
    cross-reference chain)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref_at = out.tell()
    size = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        if number in offsets:
            out.write(b"%010d 00000 n \n" % offsets[number])
        else:
            out.write(b"0000000000 65535 f \n")
    prev = b" /Prev %d" % xref_at if prev_loop else b""
    info_ref = b" /Info %d 0 R" % info if info is not None else b""
    out.write(b"trailer\n<< /Size %d /Root %d 0 R%s%s >>\n" % (size, root, info_ref, prev))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref_at)
    return out.getvalue()


def make_docx(title: str, sections: list[tuple[str, list[str]]], table: list[list[str]]) -> bytes:
    """A DOCX with a level-1 title, level-2 headed sections of paragraphs, and a table."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
