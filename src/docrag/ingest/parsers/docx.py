"""DOCX parsing with python-docx: headings, paragraphs, list items and tables in body order."""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import DocRAGError, UnreadableFile
from docrag.ingest.parsers.container import check_zip
from docrag.ingest.tables import table_text

MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MAX_UNCOMPRESSED = 200 * 1024 * 1024

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def parse_docx(data: bytes, max_uncompressed: int = MAX_UNCOMPRESSED) -> ParsedDocument:
    check_zip(data, max_uncompressed, "DOCX", refuse_doctype=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse(data)
    except (DocRAGError, MemoryError):
        raise
    except Exception as exc:  # python-docx / lxml / zipfile errors on damaged files
        raise UnreadableFile(f"the DOCX file could not be read: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes) -> ParsedDocument:
    import docx

    document = docx.Document(io.BytesIO(data))
    builder = DocumentBuilder(MIME)
    _walk(builder, document, document.element.body)
    if builder.title is None:
        title = " ".join((document.core_properties.title or "").split())
        builder.title = title or None
    return builder.build()


def _walk(builder: DocumentBuilder, document: Any, container: Any) -> None:
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            _add_paragraph(builder, Paragraph(child, document))
        elif child.tag == qn("w:tbl"):
            builder.add(BlockKind.TABLE, _table_text(Table(child, document)))
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                _walk(builder, document, content)


def _add_paragraph(builder: DocumentBuilder, paragraph: Any) -> None:
    text = paragraph.text
    if not text.strip():
        return
    style = paragraph.style
    name = (style.name or "") if style is not None else ""
    match = _HEADING_STYLE.match(name.strip())
    if match:
        builder.add(BlockKind.HEADING, text, level=int(match.group(1)))
    elif name.strip().lower() == "title":
        builder.add(BlockKind.HEADING, text, level=1)
    elif name.lower().startswith("list") or _is_numbered(paragraph):
        builder.add(BlockKind.LIST_ITEM, text)
    else:
        builder.add(BlockKind.PARAGRAPH, text)


def _is_numbered(paragraph: Any) -> bool:
    ppr = paragraph._p.pPr
    if ppr is not None and ppr.numPr is not None:
        return True
    style = paragraph.style
    for _ in range(10):  # basedOn chains can be cyclic in damaged files
        if style is None:
            break
        style_ppr = style.element.pPr
        if style_ppr is not None and style_ppr.numPr is not None:
            return True
        style = style.base_style
    return False


def _table_text(table: Any) -> str:
    """Rows with their column names (docrag/ingest/tables.py); a row marked as the table's
    repeated header (``w:tblHeader``) names the columns, else the first row if it looks so."""
    from docx.oxml.ns import qn

    rows: list[list[str | None]] = []
    for row in table.rows:
        cells = row.cells  # one per grid column: a merged cell repeats (vertically: kept)
        merged = [i > 0 and cell._tc is cells[i - 1]._tc for i, cell in enumerate(cells)]
        rows.append([None if across else cell.text for cell, across in zip(cells, merged, strict=True)])
    first = table._tbl.tr_lst[0] if table._tbl.tr_lst else None
    marked = first is not None and first.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None
    return table_text(rows, header=True if marked else None)
