"""Tables in born-digital PDFs, found by pdfplumber from the page's ruling lines, or else from
words aligned in columns when that makes a grid of numbers (a statistical table, not prose:
docrag/ingest/parsers/pdf_text_tables.py).

pdfplumber lays a page out with pdfminer, about a second a page here, against two or three
milliseconds for PDFium's text (docrag/ingest/parsers/pdf_text.py): so a page is only looked at
when PDFium counts at least :data:`MIN_PATHS` vector paths on it (a ruled table draws its lines
as paths), and only the first :data:`MAX_PAGES_LOOKED_AT` such pages of a document, within
:data:`MAX_SECONDS`. A page with tables is then read whole from pdfplumber: its text outside the
tables, band by band from top to bottom, with each table (header and rows,
docrag/ingest/tables.py) where it sits. Any other page, and any page pdfplumber fails on, keeps
its text layer's text.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Sequence
from typing import Any

from docrag.ingest.parsers import pdf_text_tables

__all__ = ["MAX_PAGES_LOOKED_AT", "MAX_SECONDS", "MIN_PATHS", "PageTables", "Region"]

#: Vector paths a page needs before it is searched for tables.
MIN_PATHS = 6
#: Pages of one document searched for tables (each costs about a second), and the seconds all
#: of them may take, so that a long PDF still parses well within DOCRAG_PARSE_TIMEOUT_SECONDS.
MAX_PAGES_LOOKED_AT = 30
MAX_SECONDS = 30.0

#: ("text", str) or ("table", rows) in reading order.
Region = tuple[str, Any]


class PageTables:
    """Lazily opens the PDF with PDFium (to count paths) and pdfplumber (for pages with some)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pdfium: Any = None
        self._plumber: Any = None
        self.looked_at = 0
        self._deadline = time.monotonic() + MAX_SECONDS

    def regions(self, page: int) -> list[Region] | None:
        """The content of 1-based ``page`` with its tables, or ``None`` when it has none."""
        if self.looked_at >= MAX_PAGES_LOOKED_AT or time.monotonic() > self._deadline:
            return None
        if not self._has_paths(page):
            return None
        self.looked_at += 1
        try:
            return self._regions(page)
        except MemoryError:
            raise
        except Exception:  # pdfminer on an odd page: its text layer's text stands
            return None

    def _has_paths(self, page: int) -> bool:
        import pypdfium2
        import pypdfium2.raw as pdfium_c

        try:
            if self._pdfium is None:
                self._pdfium = pypdfium2.PdfDocument(self._data, password="")
            objects = self._pdfium[page - 1].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=2)
            for count, _ in enumerate(objects, start=1):
                if count >= MIN_PATHS:
                    return True
        except Exception:
            return False
        return False

    def _regions(self, page_number: int) -> list[Region] | None:
        import pdfplumber

        logging.getLogger("pdfminer").setLevel(logging.ERROR)
        if self._plumber is None:
            self._plumber = pdfplumber.open(io.BytesIO(self._data), password="")
        page = self._plumber.pages[page_number - 1]
        try:
            # Each table's cells read once: pdfplumber's extract() scans the page's chars per row.
            ruled = ((t.bbox, t.extract()) for t in page.find_tables())
            found: list[tuple[Any, Any]] = [(bbox, rows) for bbox, rows in ruled if _grid(rows)]
            if not found:  # no ruled table: one aligned in columns, if it is mostly numbers
                found = [(t.bbox, t.extract()) for t in pdf_text_tables.find(page)]
            if not found:
                return None
            found.sort(key=lambda t: t[0][1])
            boxes = [bbox for bbox, _ in found]
            outside = page.filter(lambda obj: obj.get("object_type") != "char" or not _inside(obj, boxes))
            regions: list[Region] = []
            top = float("-inf")
            for bbox, rows in found:
                _add_text(regions, outside, top, bbox[3])
                regions.append(("table", rows))
                top = bbox[3]
            _add_text(regions, outside, top, float("inf"))
            return regions
        finally:
            page.close()


def _grid(rows: list[list[str | None]]) -> bool:
    """At least two rows and two columns hold text (figures and boxes also draw rectangles)."""
    filled_rows = [row for row in rows if any((cell or "").strip() for cell in row)]
    columns = {i for row in rows for i, cell in enumerate(row) if (cell or "").strip()}
    return len(filled_rows) >= 2 and len(columns) >= 2


def _inside(obj: dict[str, Any], boxes: Sequence[tuple[float, float, float, float]]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)


def _add_text(regions: list[Region], page: Any, top: float, bottom: float) -> None:
    """The text of the chars whose middle lies in ``[top, bottom)``, if any."""
    band = page.filter(
        lambda obj: obj.get("object_type") != "char" or top <= (obj["top"] + obj["bottom"]) / 2 < bottom
    )
    text = band.extract_text() or ""
    if text.strip():
        regions.append(("text", text))
