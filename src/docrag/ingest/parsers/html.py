"""HTML parsing with BeautifulSoup: headings, paragraphs, list items, tables and code."""

from __future__ import annotations

import re
import warnings
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.ingest.detect import decode_text
from docrag.ingest.tables import table_text

MIME = "text/html"

_DROP = frozenset(
    {"script", "style", "nav", "footer", "header", "noscript", "template", "svg", "title", "meta",
     "link", "base", "iframe", "object", "embed", "canvas", "button", "select", "math"}
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_BLOCKS = frozenset(
    {"p", "div", "section", "article", "main", "aside", "body", "html", "blockquote", "form",
     "fieldset", "figure", "figcaption", "address", "details", "summary", "dl", "dt", "dd", "ul",
     "ol", "center", "hr", "table", "caption", "td", "th", "tr", "tbody", "thead", "tfoot", "legend"}
)  # fmt: skip
_BREAKS = re.compile(r"\n[ ]*\n")
_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def parse_html(data: bytes) -> ParsedDocument:
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(decode_text(data), "html.parser")
    builder = DocumentBuilder(MIME)
    title = soup.find("title")
    if title is not None:
        builder.title = " ".join(title.get_text(" ").split()) or None
    _Walker(builder).block(soup, BlockKind.PARAGRAPH)
    return builder.build()


class _Walker:
    """Walks the tree once; inline text collects in a buffer, flushed at block boundaries."""

    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        self.buffer: list[str] = []

    def flush(self, kind: BlockKind) -> None:
        text = "".join(self.buffer)
        self.buffer.clear()
        for part in _BREAKS.split(text):  # <br><br> separates paragraphs
            self.builder.add(kind, part)

    def block(self, element: Any, kind: BlockKind) -> None:
        for child in element.children:
            self.node(child, kind)
        self.flush(kind)

    def node(self, node: Any, kind: BlockKind) -> None:
        from bs4.element import NavigableString, PreformattedString, Tag

        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctype, CDATA...
                self.buffer.append(_SPACES.sub(" ", str(node)))
            return
        if not isinstance(node, Tag):
            return
        name = node.name.lower()
        if name in _DROP or node.has_attr("hidden"):
            return
        if name == "br":
            self.buffer.append("\n")
        elif name in _HEADINGS:
            self.flush(kind)
            self.builder.add(BlockKind.HEADING, _inline_text(node), level=_HEADINGS[name])
        elif name == "pre":
            self.flush(kind)
            self.builder.add(BlockKind.CODE, node.get_text())
        elif name == "table" and not _is_layout(node):
            self.flush(kind)
            self.builder.add(BlockKind.TABLE, _table_text(node))
        elif name == "li":
            self.flush(kind)
            self.block(node, BlockKind.LIST_ITEM)
        elif name in _BLOCKS:
            self.flush(kind)
            self.block(node, BlockKind.PARAGRAPH)
        else:
            for child in node.children:
                self.node(child, kind)


def _inline_text(element: Any) -> str:
    return " ".join(element.get_text(" ").split())


def _is_layout(table: Any) -> bool:
    """Tables used for page layout (one column, or holding tables/headings) are walked instead."""
    rows = _rows(table)
    if max((len(row.find_all(["td", "th"], recursive=False)) for row in rows), default=0) <= 1:
        return True
    return table.find(["table", *_HEADINGS]) is not None


def _rows(table: Any) -> list[Any]:
    rows: list[Any] = []
    for child in table.find_all(["tr", "thead", "tbody", "tfoot"], recursive=False):
        if child.name == "tr":
            rows.append(child)
        else:
            rows.extend(child.find_all("tr", recursive=False))
    return rows


def _table_text(table: Any) -> str:
    """Rows with their column names (docrag/ingest/tables.py): a first row of ``<th>`` cells
    names the columns, else the first row if it looks like a header."""
    rows = [row.find_all(["td", "th"], recursive=False) for row in _rows(table)]
    rows = [row for row in rows if row]
    if not rows:
        return ""
    header = True if all(cell.name == "th" for cell in rows[0]) else None
    return table_text([[_inline_text(cell) for cell in row] for row in rows], header=header)
