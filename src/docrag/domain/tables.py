"""Tables as parsers see them: a header and rows of cells, kept whole through chunking.

A parser that finds a table (a spreadsheet sheet, a CSV file, a slide's table, a PDF/DOCX/HTML
table) hands a :class:`Table` to :meth:`docrag.domain.DocumentBuilder.add_table`. Each row
becomes one ``TABLE_ROW`` block whose text names its columns (``"Region: North | Sales: 120"``),
so a row read alone, in a chunk or quoted in a citation, still says what its values mean. The
chunker packs whole blocks and treats a row as one sentence: a chunk never cuts a row (unless
one row alone is longer than a chunk), and an answer cites a row whole.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CELL_SEPARATOR", "Table", "row_text"]

#: Between the cells of a row's text.
CELL_SEPARATOR = " | "


@dataclass(frozen=True, slots=True)
class Table:
    """``header`` names the columns (may be empty: no header row); rows may be ragged."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None = None

    def row_texts(self) -> list[str]:
        """One text per non-empty row; the header alone when there are no rows."""
        texts = [text for row in self.rows if (text := row_text(self.header, row))]
        if not texts and any(cell.strip() for cell in self.header):
            texts.append(CELL_SEPARATOR.join(" ".join(c.split()) for c in self.header if c.strip()))
        return texts


def row_text(header: tuple[str, ...], row: tuple[str, ...]) -> str:
    """``"Name: value | Name: value"``: empty cells are left out; a cell without a column name
    (no header, or more cells than names) is its value alone."""
    parts: list[str] = []
    for index, cell in enumerate(row):
        value = " ".join(cell.split())
        if not value:
            continue
        name = " ".join(header[index].split()) if index < len(header) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    return CELL_SEPARATOR.join(parts)
