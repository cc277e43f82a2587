"""A PDF page as an image, and where a quote sits on it: the page's citation view (docs/web.md).

PDFium renders the page (at most :data:`MAX_PIXELS`, so a huge page box can't exhaust memory) and
finds the quote in the page's own text layer. Whitespace and case are compared loosely, because the
indexed text came from another extractor: a quote broken over two lines still matches. Boxes are
in the rendered image's pixels, top-left origin, so a client draws them over the image as it is.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from docrag.errors import NotFound, UnreadableFile

#: The most pixels a rendered page may have (about A4 at 150 dpi is 1.9 million).
MAX_PIXELS = 4_000_000
DPI = 110
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class PageBoxes:
    """Where a quote sits on a page image of ``width`` x ``height`` pixels."""

    page: int
    page_count: int
    width: int
    height: int
    #: (left, top, right, bottom) in pixels, one per line of the match.
    boxes: list[tuple[int, int, int, int]]
    #: The page's text that matched, as PDFium has it (empty when nothing matched).
    matched: str


def _scale(width_pt: float, height_pt: float) -> float:
    scale = DPI / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > MAX_PIXELS:
        scale *= (MAX_PIXELS / pixels) ** 0.5
    return scale


def _open_page(data: bytes, page: int) -> tuple[Any, Any, int]:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(data, password="")
    except Exception as exc:  # PDFium's own error type varies by version
        raise UnreadableFile(f"the stored PDF could not be opened: {exc}") from exc
    count = len(pdf)
    if not 1 <= page <= count:
        pdf.close()
        raise NotFound(f"page {page} not found: the document has {count} pages", code="page_not_found")
    return pdf, pdf[page - 1], count


def render_png(data: bytes, page: int) -> bytes:
    """The 1-based ``page`` of the PDF ``data`` as a PNG."""
    pdf, pdf_page, _ = _open_page(data, page)
    try:
        width, height = pdf_page.get_size()
        image = pdf_page.render(scale=_scale(width, height)).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    finally:
        pdf.close()


def _normalized(text: str) -> tuple[str, list[int]]:
    """``text`` lowercased with each whitespace run as one space, and each character's source index."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace() or ch in "\x00\ufffe\u00ad":  # PDFium marks soft hyphens and line ends
            if chars and chars[-1] != " ":
                chars.append(" ")
                where.append(i)
            continue
        chars.append(ch.lower())
        where.append(i)
    return "".join(chars), where


def quote_boxes(data: bytes, page: int, quote: str) -> PageBoxes:
    """Where ``quote`` first appears on the 1-based ``page``: one box per line of it (none for an
    empty quote or one the page's text lacks)."""
    wanted = _SPACE.sub(" ", quote).strip().lower()
    pdf, pdf_page, count = _open_page(data, page)
    try:
        width_pt, height_pt = pdf_page.get_size()
        scale = _scale(width_pt, height_pt)
        textpage = pdf_page.get_textpage()
        n = textpage.count_chars()
        text = textpage.get_text_range(0, n) if n > 0 else ""
        haystack, where = _normalized(text)
        at = haystack.find(wanted) if wanted else -1
        boxes: list[tuple[int, int, int, int]] = []
        matched = ""
        if at >= 0 and len(text) == n:  # get_text_range is index-aligned with PDFium's characters
            first, last = where[at], where[at + len(wanted) - 1]
            matched = text[first : last + 1]
            for i in range(textpage.count_rects(first, last - first + 1)):
                left, bottom, right, top = textpage.get_rect(i)
                boxes.append(
                    (
                        round(left * scale),
                        round((height_pt - top) * scale),
                        round(right * scale),
                        round((height_pt - bottom) * scale),
                    )
                )
        return PageBoxes(
            page, count, round(width_pt * scale), round(height_pt * scale), _merged(boxes), matched
        )
    finally:
        pdf.close()


def _merged(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """PDFium gives one rectangle per text run; runs on one line become one box."""
    lines: list[list[int]] = []
    for left, top, right, bottom in boxes:
        for line in lines:
            if abs(line[1] - top) <= 2 and abs(line[3] - bottom) <= 2:
                line[0], line[2] = min(line[0], left), max(line[2], right)
                break
        else:
            lines.append([left, top, right, bottom])
    return [(a, b, c, d) for a, b, c, d in lines]
