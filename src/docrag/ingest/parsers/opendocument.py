"""OpenDocument parsing from ``content.xml`` (lxml with DTDs, entities and the network off):
ODT as headings, paragraphs, list items and tables; ODS as one section per sheet whose rows
are table rows (see :mod:`docrag.ingest.parsers.sheets`), the sheet's number as its page."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument, Table
from docrag.errors import DocRAGError, TooManyPages, UnreadableFile
from docrag.ingest.formats import ODS, ODT
from docrag.ingest.parsers.container import check_zip, parse_xml
from docrag.ingest.parsers.sheets import MAX_COLUMNS, CellBudget, add_sheet

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_MAX_REPEAT = 10_000  # repeated rows of one row element expanded at most (a sheet's tail repeats ~1M)


def parse_odt(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    root = _content(data, max_decompressed, "ODT")
    builder = DocumentBuilder(ODT)
    body = root.find(f"{_OFFICE}body/{_OFFICE}text")
    if body is not None:
        _walk(builder, body, 0)
    return builder.build()


def parse_ods(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    root = _content(data, max_decompressed, "ODS")
    sheets = root.findall(f"{_OFFICE}body/{_OFFICE}spreadsheet/{_TABLE}table")
    if len(sheets) > max_pages:
        raise TooManyPages(f"the spreadsheet has {len(sheets)} sheets; the limit is {max_pages}")
    builder = DocumentBuilder(ODS)
    builder.page_count = len(sheets)
    budget = CellBudget()
    for number, sheet in enumerate(sheets, start=1):
        add_sheet(
            builder, sheet.get(f"{_TABLE}name") or f"Sheet {number}", budget.count(_rows(sheet)), number
        )
    return builder.build()


def _content(data: bytes, max_decompressed: int, label: str) -> Any:
    check_zip(data, max_decompressed, label)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = archive.read("content.xml")
        return parse_xml(content)
    except (DocRAGError, MemoryError):
        raise
    except KeyError as exc:
        raise UnreadableFile(f"the {label} file has no content.xml") from exc
    except Exception as exc:  # lxml syntax errors, zipfile errors
        raise UnreadableFile(f"the {label} file could not be read: {type(exc).__name__}: {exc}") from exc


def _walk(builder: DocumentBuilder, element: Any, depth: int) -> None:
    if depth > 50:
        return
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == f"{_TEXT}h":
            level = int(child.get(f"{_TEXT}outline-level") or 1)
            builder.add(BlockKind.HEADING, _text(child), level=max(1, min(level, 9)))
        elif tag == f"{_TEXT}p":
            builder.add(BlockKind.PARAGRAPH, _text(child))
        elif tag == f"{_TEXT}list":
            for item in child.iter(f"{_TEXT}list-item"):
                for paragraph in item.findall(f"{_TEXT}p"):
                    builder.add(BlockKind.LIST_ITEM, _text(paragraph))
        elif tag == f"{_TABLE}table":
            rows = [row for row in _rows(child) if any(cell.strip() for cell in row)]
            if rows:
                header = rows[0] if len(rows) > 1 else ()
                builder.add_table(Table(header, tuple(rows[1:] if header else rows)))
        elif tag in (f"{_TEXT}section", f"{_TEXT}soft-page-break", f"{_OFFICE}forms") or tag.endswith("}div"):
            _walk(builder, child, depth + 1)


def _text(element: Any, depth: int = 0) -> str:
    """The text of ``element``: ``text:s`` as spaces, tabs and line breaks as one space."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == f"{_TEXT}s":
            parts.append(" " * min(int(child.get(f"{_TEXT}c") or 1), 100))
        elif tag in (f"{_TEXT}tab", f"{_TEXT}line-break"):
            parts.append(" ")
        elif depth < 50:
            parts.append(_text(child, depth + 1))
        parts.append(child.tail or "")
    return "".join(parts)


def _rows(table: Any) -> Iterator[tuple[str, ...]]:
    for row in table.iter(f"{_TABLE}table-row"):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                continue
            repeat = min(int(cell.get(f"{_TABLE}number-columns-repeated") or 1), MAX_COLUMNS)
            value = " ".join(_text(p) for p in cell.findall(f"{_TEXT}p"))
            cells.extend([value] * repeat)
            if len(cells) >= MAX_COLUMNS:
                break
        values = tuple(cells[:MAX_COLUMNS])
        repeat = int(row.get(f"{_TABLE}number-rows-repeated") or 1)
        if not any(v.strip() for v in values):
            yield ()
            continue
        for _ in range(min(repeat, _MAX_REPEAT)):
            yield values
