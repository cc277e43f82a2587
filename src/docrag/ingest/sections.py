"""The sections a parsed document is chunked by (docrag/ingest/chunking.py): a section is a heading
and the blocks under it; blocks before the first heading form a section with an empty heading path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docrag.domain import BlockKind, ParsedDocument

__all__ = ["Section", "lines", "sections", "trim"]

_NON_SPACE = re.compile(r"\S")
_LINE = re.compile(r"[^\n]+")


@dataclass(frozen=True, slots=True)
class Section:
    """A heading path and the blocks under it."""

    path: tuple[str, ...]
    blocks: tuple[tuple[int, int, int | None], ...]  # trimmed (start, end, page)
    rows: frozenset[int] = frozenset()  # starts of the blocks that are table rows
    #: Starts of the TABLE blocks: cut between their rows (lines), never inside one.
    tables: frozenset[int] = frozenset()


def trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """``[start, end)`` without its leading and trailing whitespace; ``None`` if that is all."""
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return None
    start = first.start()
    while text[end - 1].isspace():
        end -= 1
    return start, end


def lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The trimmed non-blank lines of ``[start, end)``: a table's rows."""
    spans = []
    for match in _LINE.finditer(text, start, end):
        trimmed = trim(text, match.start(), match.end())
        if trimmed is not None:
            spans.append(trimmed)
    return spans


def sections(doc: ParsedDocument) -> list[Section]:
    """Runs of non-heading blocks between headings (a heading path change also splits)."""
    sections: list[Section] = []
    current: list[tuple[int, int, int | None]] = []
    rows: set[int] = set()
    current_path: tuple[str, ...] = ()
    tables: set[int] = set()

    def close() -> None:
        if current:
            sections.append(Section(current_path, tuple(current), frozenset(rows), frozenset(tables)))
            current.clear()
            rows.clear()
            tables.clear()

    for block in doc.blocks:
        if block.kind is BlockKind.HEADING:
            close()
            continue
        span = trim(doc.text, block.start, block.end)
        if span is None:
            continue
        if current and block.heading_path != current_path:
            close()
        current_path = block.heading_path
        current.append((span[0], span[1], block.page))
        if block.kind is BlockKind.TABLE_ROW:
            rows.add(span[0])
        if block.kind is BlockKind.TABLE:
            tables.add(span[0])
    close()
    if sections:
        return sections
    # Only headings: each heading is its own chunk, under the path of its ancestors.
    for block in doc.blocks:
        span = trim(doc.text, block.start, block.end)
        if span is not None:
            sections.append(Section(block.heading_path, ((span[0], span[1], block.page),)))
    return sections
