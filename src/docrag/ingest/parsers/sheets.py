"""XLSX/XLSM parsing with openpyxl (read-only, ``data_only``: formulas come as the values Excel
last computed and saved), and the grid-to-tables logic that ODS and CSV share.

Each sheet is a section under its name, with the sheet's number as the block's page. A sheet's
rows are cut into tables at blank rows; a table's first row is its header when every cell of it
is text (else the table has no header), and every row is one ``TABLE_ROW`` block that names its
columns: "Region: North | Sales: 120". At most :data:`MAX_CELLS` cells are read in all.
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument, Table
from docrag.errors import DocRAGError, FileTooLarge, TooManyPages, UnreadableFile
from docrag.ingest.formats import XLSX
from docrag.ingest.parsers.container import check_zip

#: Cells read (empty ones included) across all sheets of a workbook, or rows x columns of a CSV.
MAX_CELLS = 2_000_000
#: Columns of one row; cells past it are dropped (a stray cell at column XFD would cost 16k).
MAX_COLUMNS = 1_000


def parse_xlsx(data: bytes, max_pages: int, max_decompressed: int, mime: str = XLSX) -> ParsedDocument:
    """:raises TooManyPages: more sheets than ``max_pages``; :raises FileTooLarge: more than
    :data:`MAX_CELLS` cells; the container errors of ``check_zip``; UnreadableFile when damaged."""
    check_zip(data, max_decompressed, "spreadsheet")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse(data, max_pages, mime)
    except (DocRAGError, MemoryError):
        raise
    except Exception as exc:  # openpyxl / lxml / zipfile errors on damaged files
        raise UnreadableFile(f"the spreadsheet could not be read: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes, max_pages: int, mime: str) -> ParsedDocument:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        sheets = [sheet for sheet in workbook.worksheets if hasattr(sheet, "iter_rows")]
        if len(sheets) > max_pages:
            raise TooManyPages(f"the workbook has {len(sheets)} sheets; the limit is {max_pages}")
        builder = DocumentBuilder(mime)
        builder.page_count = len(sheets)
        budget = CellBudget()
        for number, sheet in enumerate(sheets, start=1):
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # the saved dimension can be wrong: read the cells there are
            values = sheet.iter_rows(values_only=True)
            rows = (tuple(cell_text(v) for v in row[:MAX_COLUMNS]) for row in values)
            add_sheet(builder, sheet.title, budget.count(rows), number)
        builder.title = " ".join((workbook.properties.title or "").split()) or None
        return builder.build()
    finally:
        workbook.close()


class CellBudget:
    """Counts the cells read and refuses the file past :data:`MAX_CELLS`."""

    def __init__(self, limit: int = MAX_CELLS) -> None:
        self.limit = limit
        self.used = 0

    def count(self, rows: Iterable[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
        for row in rows:
            self.used += max(1, len(row))
            if self.used > self.limit:
                raise FileTooLarge(
                    f"the spreadsheet has more than {self.limit} cells; split it and upload the parts"
                )
            yield row


def add_sheet(builder: DocumentBuilder, name: str, rows: Iterable[tuple[str, ...]], page: int | None) -> None:
    """A section headed ``name`` (when given) holding the tables of ``rows``."""
    tables = list(tables_from_grid(rows))
    if not tables:
        return
    if name:
        builder.add(BlockKind.HEADING, name, page=page, level=1)
    for table in tables:
        builder.add_table(table, page=page)


def tables_from_grid(rows: Iterable[tuple[str, ...]]) -> Iterator[Table]:
    """Tables separated by blank rows; trailing empty cells dropped."""
    current: list[tuple[str, ...]] = []
    for row in rows:
        row = _rstrip(row)
        if row:
            current.append(row)
        elif current:
            yield _table(current)
            current = []
    if current:
        yield _table(current)


def _rstrip(row: tuple[str, ...]) -> tuple[str, ...]:
    end = len(row)
    while end and not row[end - 1].strip():
        end -= 1
    return row[:end]


def _table(rows: list[tuple[str, ...]]) -> Table:
    """A lone cell above wider rows is a caption; the first row is the header when at least
    four in five of its cells are filled, all with text (not numbers), and it spans at least
    half of the table's width."""
    caption = None
    if len(rows) > 1 and len(rows[0]) == 1 and len(rows[1]) > 1:
        caption, rows = rows[0][0], rows[1:]
    first = rows[0]
    filled = [cell for cell in first if cell.strip()]
    width = max(len(row) for row in rows[:50])
    if (
        len(rows) > 1
        and len(filled) >= 0.8 * len(first)
        and 2 * len(first) >= width
        and not any(_is_number(cell) for cell in filled)
    ):
        return Table(first, tuple(rows[1:]), caption)
    return Table((), tuple(rows), caption)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def cell_text(value: Any) -> str:
    """A cell's value as shown: integral floats without ``.0``, dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())
