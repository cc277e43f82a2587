"""Tables set without ruling lines, found from how the words of a page line up (the idea of
camelot's "stream" flavour and of tabula's text-only mode).

pdfplumber's own text strategy cuts the page at every x where many words start or end, and so
slices words in two wherever a column is ragged; here whole words are kept together:

1. the page's words are grouped into text lines, and each line into *segments*: runs of words
   closer than :data:`GAP_EM` of their font size (a cell's words are a space apart, two
   cells are further);
2. a *run* is a stretch of consecutive lines, most of them of several segments (a paragraph's
   lines are one segment each), with a few one-segment lines inside (a section label);
3. the run's columns are the x-intervals covered by the segments of its fullest lines (those
   with at least the median number of segments); every segment goes to the first column it
   overlaps, so a header spanning several columns stays one cell;
4. a line closer to the one above than the run's usual line pitch, whose cells all lie under
   cells of that line (or the other way round), continues the same row: a wrapped cell.

A run becomes a table only when it is a grid of numbers (:func:`numeric_grid`): prose set in
columns also lines up, but its cells are words.
"""

from __future__ import annotations

import itertools
import re
import statistics
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GAP_EM",
    "MIN_TEXT_COLUMNS",
    "MIN_TEXT_ROWS",
    "NUMERIC_SHARE",
    "PROSE_WORDS",
    "TextTable",
    "find",
    "numeric_grid",
]

#: Words further apart than this share of their font size are in different cells.
GAP_EM = 0.8
#: A run ends at a vertical gap of more than this many font sizes between two lines.
MAX_LINE_GAP_EM = 2.5
#: One-segment lines (labels, wrapped cells) a run may hold in a row.
MAX_SINGLE_LINES = 3
#: A line this much closer than the run's median pitch may continue the row above it.
WRAP_SHARE = 0.85
#: Kept only with at least this many rows and columns, and this share of numbers among the
#: filled cells.
MIN_TEXT_ROWS = 4
MIN_TEXT_COLUMNS = 3
NUMERIC_SHARE = 0.6
#: A segment of this many words is prose beside or around a table, not a cell.
PROSE_WORDS = 8
#: Figures, ranges, intervals and percentages ("(1.1–1.2)", "≥85", "$4,050", "12.5%"), or a dash
#: or "n/a" standing for none.
_NUMBER = re.compile(r"[-+−–—(\[<>≤≥~±$€£]*\d[\d\s.,:%()\[\]\-−–—/+*]*|[-–—]|n/?a", re.I)


@dataclass(frozen=True)
class TextTable:
    """A table found from alignment: its box (x0, top, x1, bottom) and rows of cell texts."""

    bbox: tuple[float, float, float, float]
    rows: list[list[str]]

    def extract(self) -> list[list[str | None]]:
        """The rows, as pdfplumber's ``Table.extract`` gives them."""
        return [list(row) for row in self.rows]


@dataclass
class _Segment:
    x0: float
    x1: float
    text: str


@dataclass
class _Line:
    top: float
    bottom: float
    size: float
    words: list[dict[str, Any]]
    segments: list[_Segment]


def find(page: Any) -> list[TextTable]:
    """The tables of a pdfplumber ``page`` whose columns are aligned by whitespace alone."""
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False, extra_attrs=["size"])
    lines = _lines(words)
    found = []
    for run in _runs(lines):
        table = _table(run)
        if table is not None and numeric_grid(table.rows):
            found.append(table)
    return found


def numeric_grid(rows: list[list[str]] | list[list[str | None]]) -> bool:
    """At least :data:`MIN_TEXT_ROWS` rows of :data:`MIN_TEXT_COLUMNS` columns, half of the
    cells filled, and :data:`NUMERIC_SHARE` of those numbers (a statistical table, not prose)."""
    cells = [" ".join((cell or "").split()) for row in rows for cell in row]
    filled = [cell for cell in cells if cell]
    if len(rows) < MIN_TEXT_ROWS or min(len(row) for row in rows) < MIN_TEXT_COLUMNS or not filled:
        return False
    numbers = sum(1 for cell in filled if _NUMBER.fullmatch(cell))
    return numbers >= NUMERIC_SHARE * len(filled) and len(filled) >= 0.5 * len(cells)


def _lines(words: list[dict[str, Any]]) -> list[_Line]:
    """Words grouped into lines (a word whose vertical middle falls in a line joins it)."""
    lines: list[_Line] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        middle = (word["top"] + word["bottom"]) / 2
        line = lines[-1] if lines else None
        if line is not None and line.top <= middle <= line.bottom:
            line.words.append(word)
            line.bottom = max(line.bottom, word["bottom"])
        else:
            size = float(word.get("size") or (word["bottom"] - word["top"]))
            lines.append(_Line(word["top"], word["bottom"], size, [word], []))
    for line in lines:
        line.words.sort(key=lambda w: w["x0"])
        line.segments = [s for s in _segments(line.words, line.size) if len(s.text.split()) < PROSE_WORDS]
    return lines


def _segments(words: list[dict[str, Any]], size: float) -> list[_Segment]:
    segments: list[_Segment] = []
    for word in words:
        last = segments[-1] if segments else None
        if last is not None and word["x0"] - last.x1 <= GAP_EM * size:
            last.x1 = max(last.x1, word["x1"])
            last.text += " " + word["text"]
        else:
            segments.append(_Segment(word["x0"], word["x1"], word["text"]))
    return segments


def _runs(lines: list[_Line]) -> list[list[_Line]]:
    """Stretches of consecutive lines mostly of several segments, trimmed of one-segment lines."""
    runs: list[list[_Line]] = []
    current: list[_Line] = []
    singles = 0
    for line in lines:
        if current and (not line.segments or line.top - current[-1].bottom > MAX_LINE_GAP_EM * line.size):
            runs.append(current)
            current, singles = [], 0
        if not line.segments:  # prose
            continue
        if len(line.segments) >= 2:
            current.append(line)
            singles = 0
        elif current:
            singles += 1
            if singles > MAX_SINGLE_LINES:
                runs.append(current)
                current, singles = [], 0
            else:
                current.append(line)
    runs.append(current)
    trimmed = []
    for run in runs:
        while run and len(run[-1].segments) < 2:
            run = run[:-1]
        if sum(1 for line in run if len(line.segments) >= 2) >= MIN_TEXT_ROWS:
            trimmed.append(run)
    return trimmed


def _columns(run: list[_Line]) -> list[tuple[float, float]]:
    """The x-intervals covered by the segments of the run's fullest lines, overlaps merged."""
    counts = [len(line.segments) for line in run if len(line.segments) >= 2]
    fullest = statistics.median(counts)
    spans = sorted((s.x0, s.x1) for line in run if len(line.segments) >= fullest for s in line.segments)
    columns: list[tuple[float, float]] = []
    for x0, x1 in spans:
        if columns and x0 <= columns[-1][1]:
            columns[-1] = (columns[-1][0], max(columns[-1][1], x1))
        else:
            columns.append((x0, x1))
    return columns


def _column_of(segment: _Segment, columns: list[tuple[float, float]]) -> int:
    """The first column the segment overlaps, else the nearest one."""
    for i, (x0, x1) in enumerate(columns):
        if segment.x0 < x1 and segment.x1 > x0:
            return i
    middle = (segment.x0 + segment.x1) / 2
    return min(range(len(columns)), key=lambda i: min(abs(middle - x) for x in columns[i]))


def _table(run: list[_Line]) -> TextTable | None:
    columns = _columns(run)
    if len(columns) < 2:
        return None
    pitches = [b.top - a.top for a, b in itertools.pairwise(run)]
    pitch = statistics.median(pitches) if pitches else 0.0
    rows: list[dict[int, _Segment]] = []
    previous_top = float("-inf")
    for line in run:
        cells: dict[int, _Segment] = {}
        for segment in line.segments:
            i = _column_of(segment, columns)
            cells[i] = (
                _Segment(cells[i].x0, segment.x1, f"{cells[i].text} {segment.text}")
                if i in cells
                else segment
            )
        if rows and line.top - previous_top < WRAP_SHARE * pitch and _continues(rows[-1], cells):
            above = rows[-1]
            rows[-1] = {i: _join(above.get(i), cells.get(i)) for i in above.keys() | cells.keys()}
        else:
            rows.append(cells)
        previous_top = line.top
    x0 = min(s.x0 for line in run for s in line.segments)
    x1 = max(s.x1 for line in run for s in line.segments)
    grid = [[row[i].text if i in row else "" for i in range(len(columns))] for row in rows]
    return TextTable((x0, run[0].top, x1, run[-1].bottom), grid)


def _continues(above: dict[int, _Segment], below: dict[int, _Segment]) -> bool:
    """Whether the line ``below`` continues the row ``above`` (a wrapped cell): its cells all lie
    under cells of the row, none starting left of them (a label further left is a new row), or
    the row's cells all lie over cells of the line (a header of several lines)."""
    if below.keys() <= above.keys():
        return all(cell.x0 >= above[i].x0 - 1 for i, cell in below.items())
    return above.keys() <= below.keys()


def _join(first: _Segment | None, second: _Segment | None) -> _Segment:
    if first is None or second is None:
        found = first or second
        assert found is not None
        return found
    return _Segment(min(first.x0, second.x0), max(first.x1, second.x1), f"{first.text} {second.text}")
