"""Tables kept as tables (docrag/ingest/tables.py): each row one line naming its columns, in
DOCX, HTML and PDF, and the chunker cutting long tables between rows, never inside one."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import docx
import pdfplumber
import pytest

from ci_strict import require
from docrag.domain import BlockKind, ParsedDocument
from docrag.eval.parsing import table_cells_f1
from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import parse, pdf_text_tables
from docrag.ingest.parsers.pdf_tables import PageTables
from docrag.ingest.tables import table_text
from paths import DOCS

ICDAR = DOCS / "tables_icdar2013/src/test/resources/technology/tabula/icdar2013-dataset"

HEADER = ["Country", "Capital", "Notes"]


def rows(n: int) -> list[list[str]]:
    return [
        [f"Country {i}", f"City {i}", f"Row {i} is long. It has several sentences. Each one. Ends here."]
        for i in range(n)
    ]


def row_line(row: list[str]) -> str:
    return " | ".join(f"{name}: {cell}" for name, cell in zip(HEADER, row, strict=True))


def tables(doc: ParsedDocument) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if b.kind is BlockKind.TABLE]


def test_table_text() -> None:
    assert table_text([HEADER, *rows(2)]) == "\n".join(row_line(r) for r in rows(2))
    # A first row of numbers is data, not a header; empty rows and columns go.
    assert table_text([["1", "2", ""], ["", "", ""], ["3", "4", None]]) == "1 | 2\n3 | 4"
    # A cell keeps to its row: line breaks collapse, the separator is escaped.
    assert table_text([["a", "b"], ["x\ny", "p|q"]], header=True) == "a: x y | b: p/q"
    assert table_text([["Name", "Age"]], header=True) == "Name | Age"
    assert table_text([]) == ""


def docx_with_table(n: int) -> bytes:
    document = docx.Document()
    document.add_heading("Capitals", level=1)
    table = document.add_table(rows=n + 1, cols=3)
    for i, row in enumerate([HEADER, *rows(n)]):
        for cell, text in zip(table.rows[i].cells, row, strict=True):
            cell.text = text
    document.add_paragraph("After the table.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def html_with_table(n: int) -> bytes:
    head = "".join(f"<th>{h}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows(n))
    return f"<html><body><h1>Capitals</h1><table><tr>{head}</tr>{body}</table></body></html>".encode()


@pytest.mark.parametrize(("name", "make"), [("t.docx", docx_with_table), ("t.html", html_with_table)])
def test_tables_round_trip(name: str, make: object) -> None:
    assert callable(make)
    doc = parse(make(40), name)
    (table,) = tables(doc)
    assert table.splitlines() == [row_line(r) for r in rows(40)]
    block = next(b for b in doc.blocks if b.kind is BlockKind.TABLE)
    assert block.heading_path == ("Capitals",)


@pytest.mark.parametrize("mode", ["structural", "semantic"])
def test_a_chunk_never_cuts_a_row(mode: str) -> None:
    doc = parse(docx_with_table(60), "t.docx")
    lines = {row_line(r) for r in rows(60)}

    def embed(texts: list[str]) -> object:
        import numpy as np

        vectors = np.array([[len(t) % 7 + 1.0, t.count("1") + 1.0, 1.0] for t in texts])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    drafts = chunk_document(doc, max_tokens=96, target_tokens=80, mode=mode, embed=embed)  # type: ignore[arg-type]
    table_chunks = [d for d in drafts if "Country" in d.body]
    assert len(table_chunks) > 5  # the table had to be cut
    seen = []
    for draft in table_chunks:
        body_lines = [line for line in draft.body.splitlines() if line not in ("", "After the table.")]
        assert all(line in lines for line in body_lines), body_lines
        # Each row is a sentence of its own: an answer quoting it cites the whole row.
        quoted = [doc.text[s:e] for s, e in draft.sentences]
        assert [q for q in quoted if q != "After the table."] == body_lines
        seen.extend(body_lines)
    assert seen == [row_line(r) for r in rows(60)]


def _gold(path: Path) -> dict[int, list[str]]:
    cells: dict[int, list[str]] = {}
    for region in ET.parse(path).getroot().iter("region"):
        page = int(region.get("page", "1"))
        cells.setdefault(page, []).extend(c.findtext("content") or "" for c in region.iter("cell"))
    return cells


def test_pdf_table_rows_from_ruling_lines() -> None:
    pdf = ICDAR / "competition-dataset-us" / "us-005.pdf"
    require(pdf.is_file(), f"the ICDAR 2013 set {ICDAR}")
    doc = parse(pdf.read_bytes(), pdf.name)
    found = tables(doc)
    assert found, "no table block"
    gold = _gold(ICDAR / "competition-dataset-us" / "us-005-str.xml")
    table_blocks = [b for b in doc.blocks if b.kind is BlockKind.TABLE]
    assert {b.page for b in table_blocks} <= set(gold)
    # Every gold cell's text is in a table row of its page, each row one line.
    text = "\n".join(found)
    cells = [" ".join(c.split()) for page in gold.values() for c in page if c.strip()]
    present = sum(1 for c in cells if c in text)
    assert present >= 0.85 * len(cells), (present, len(cells))


def test_pdf_table_rows_from_text_alignment() -> None:
    """us-024's tables have no ruling between rows or columns: their cells are found from how
    the words line up, each wrapped cell whole; a page of prose in two columns is no table."""
    us = ICDAR / "competition-dataset-us"
    require((us / "us-024.pdf").is_file(), f"the ICDAR 2013 set {ICDAR}")
    tables = PageTables((us / "us-024.pdf").read_bytes())
    gold = _gold(us / "us-024-str.xml")
    cells = {}
    for page in (2, 6):
        cells[page] = [
            " ".join((cell or "").split())
            for kind, rows in tables.regions(page) or []
            if kind == "table"
            for row in rows
            for cell in row
        ]
        matched, predicted, expected = table_cells_f1(cells[page], gold[page])
        assert matched >= 0.9 * expected and matched >= 0.9 * predicted, (page, matched, predicted, expected)
    assert "total occupied housing units" in cells[2]  # two lines of the header, one cell
    assert "American Indian/Alaska Native" in cells[2]  # a row label wrapped on two lines
    with pdfplumber.open(us / "us-025.pdf") as pdf:
        prose = pdf_text_tables.find(pdf.pages[0])
    assert prose == []


def test_table_cells_f1_counts() -> None:
    assert table_cells_f1(["a", "b", "b", ""], ["a", "b", "c"]) == (2, 3, 3)
    assert table_cells_f1(["x  y"], ["x\ny"]) == (1, 1, 1)
