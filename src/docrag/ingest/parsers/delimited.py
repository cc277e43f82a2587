"""CSV and TSV parsing: the encoding detected (UTF-8/16/32 by BOM, else charset-normalizer), the
dialect sniffed (delimiter and quoting, :class:`csv.Sniffer`), and the rows kept as a table of
header + rows, one ``TABLE_ROW`` block each (see :mod:`docrag.ingest.parsers.sheets`)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable

from docrag.domain import DocumentBuilder, ParsedDocument
from docrag.errors import UnreadableFile
from docrag.ingest.detect import decode_text
from docrag.ingest.formats import CSV, TSV
from docrag.ingest.parsers.sheets import MAX_COLUMNS, CellBudget, add_sheet

_SNIFF = 65536
_DELIMITERS = ",;\t|"
_MAX_FIELD = 16 * 1024 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def parse_csv(data: bytes, mime: str = CSV) -> ParsedDocument:
    text = decode(data)
    sample = text[:_SNIFF]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:  # one column, or too irregular to tell: the format's own delimiter
        dialect = csv.excel_tab if mime == TSV else csv.excel
    if mime == TSV and getattr(dialect, "delimiter", "\t") != "\t" and "\t" in sample:
        dialect = csv.excel_tab
    csv.field_size_limit(_MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = _rows(reader)
    builder = DocumentBuilder(mime)
    add_sheet(builder, "", CellBudget().count(rows), None)
    return builder.build()


def _rows(reader: Iterable[list[str]]) -> list[tuple[str, ...]]:
    try:
        return [tuple(cell.replace("\x00", "") for cell in row[:MAX_COLUMNS]) for row in reader]
    except csv.Error as exc:
        raise UnreadableFile(f"the CSV file could not be read: {exc}") from exc


def decode(data: bytes) -> str:
    """``data`` as text: by its BOM, as UTF-8, else in the encoding charset-normalizer finds."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"the text is not valid {encoding.upper()}: {exc.reason}") from exc
    if b"\x00" in data[:8192]:
        return decode_text(data)  # UTF-16 without a BOM, or binary (typed refusal)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 20]).best()
    if best is None or best.encoding is None:
        raise UnreadableFile(
            "the text's encoding could not be recognised; save it as UTF-8 and upload it again"
        )
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnreadableFile(f"the text is not valid {best.encoding}: {exc}") from exc
