"""Tables as text that keeps their structure: one line per row, each row citable on its own.

Parsers (DOCX, HTML, PDF) hand :func:`table_text` the cells of a table as rows; it returns a
TABLE block's text where every data row is one line that names its columns:

    Country: France | Capital: Paris | Population (M): 68

so a chunk that holds a row holds everything needed to read it, and the chunker
(:mod:`docrag.ingest.chunking`) cuts a long table between rows, never inside one. A table
without a header row is written as ``x | y`` per row. Inside a cell, whitespace (line
breaks included) collapses to one space and ``|`` becomes ``/``, so a row is always one line.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Table", "clean_cell", "looks_like_header", "table_text"]

#: Rows of cells (``None`` where a merged cell spans), top to bottom.
Table = Sequence[Sequence[str | None]]


def clean_cell(cell: str | None) -> str:
    """One line of text for a cell: whitespace collapsed, the row separator replaced."""
    if not cell:
        return ""
    return " ".join(cell.replace("|", "/").split())


def looks_like_header(row: Sequence[str | None], rows_below: int) -> bool:
    """Whether ``row`` can name the columns under it: rows follow it, and at least half of its
    cells hold labels (short, none of them a number)."""
    cells = [clean_cell(cell) for cell in row]
    filled = [cell for cell in cells if cell]
    if rows_below < 1 or len(filled) < max(1, len(cells) // 2):
        return False
    numeric = sum(1 for cell in filled if _is_number(cell))
    return numeric == 0 and all(len(cell) <= 80 for cell in filled)


def table_text(rows: Table, *, header: bool | None = None) -> str:
    """The text of a TABLE block: one line per non-empty row.

    ``header``: whether the first row names the columns; ``None`` guesses with
    :func:`looks_like_header`. Empty rows and columns are dropped.
    """
    cleaned = [[clean_cell(cell) for cell in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return ""
    width = max(len(row) for row in cleaned)
    cleaned = [row + [""] * (width - len(row)) for row in cleaned]
    used = [c for c in range(width) if any(row[c] for row in cleaned)]
    cleaned = [[row[c] for c in used] for row in cleaned]
    if header is None:
        header = looks_like_header(cleaned[0], len(cleaned) - 1)
    if not header or len(cleaned) < 2:
        return "\n".join(" | ".join(cell for cell in row if cell) for row in cleaned)
    names = cleaned[0]
    lines = []
    for row in cleaned[1:]:
        cells = [
            f"{name}: {cell}" if name and name != cell else cell
            for name, cell in zip(names, row, strict=True)
            if cell
        ]
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines) if lines else " | ".join(name for name in names if name)


def _is_number(cell: str) -> bool:
    stripped = cell.replace(",", "").replace(".", "").replace("%", "").replace("-", "").replace(" ", "")
    return stripped.isdigit()
