"""Parsers of the issue-19 formats on files the tests write with the formats' own libraries
(python-pptx, openpyxl, email) or build by hand (ODF, EPUB), and on the shared files."""

from __future__ import annotations

import json

import pytest

import paths
from ci_strict import require
from docrag.domain import Attachment, BlockKind, ParsedDocument
from docrag.ingest import formats
from docrag.ingest.chunking import chunk_document
from docrag.ingest.detect import detect_type
from docrag.ingest.parsers import parse
from docrag.text.tokenizer import count_tokens
from office_files import ODS_BODY, ODT_BODY, eml_bytes, epub_bytes, odf_bytes, pptx_bytes, xlsx_bytes

DOCS = paths.DOCS / "unstructured"


def texts(doc: ParsedDocument, kind: BlockKind) -> list[str]:
    return [doc.text[b.start : b.end] for b in doc.blocks if b.kind is kind]


def test_pptx_slides_titles_notes_and_tables() -> None:
    doc = parse(pptx_bytes(2), "deck.pptx")
    assert doc.mime == formats.PPTX
    assert doc.page_count == 3
    headings = [(doc.text[b.start : b.end], b.page) for b in doc.blocks if b.kind is BlockKind.HEADING]
    assert headings[:2] == [("Quarterly review 1", 1), ("Speaker notes", 1)]
    assert ("Harbour fees", 3) in headings
    body = [b for b in doc.blocks if "lighthouse keepers met on slide 2" in doc.text[b.start : b.end]]
    assert body and body[0].page == 2 and body[0].heading_path == ("Quarterly review 2",)
    assert texts(doc, BlockKind.LIST_ITEM) == ["A sub-point", "A sub-point"]
    assert "Speak slowly about item 2." in doc.text
    rows = [(doc.text[b.start : b.end], b.page) for b in doc.blocks if b.kind is BlockKind.TABLE_ROW]
    assert rows == [("Vessel: Trawler | Fee: 40 crowns", 3), ("Vessel: Ferry | Fee: 95 crowns", 3)]


def test_xlsx_sheets_rows_with_header_names_and_formula_values() -> None:
    doc = parse(xlsx_bytes(3), "book.xlsx")
    assert doc.mime == formats.XLSX
    assert doc.page_count == 2
    rows = texts(doc, BlockKind.TABLE_ROW)
    assert rows[0] == "Region: North | Sales: 120 | Double: 240"  # the formula's cached value
    assert rows[1:3] == ["Region: South | Sales: 121", "Region: East | Sales: 122"]
    notes = [b for b in doc.blocks if "audited" in doc.text[b.start : b.end]]
    assert notes[0].page == 2 and notes[0].heading_path == ("Notes",)
    without_cache = parse(xlsx_bytes(1, formula_value=None), "book.xlsx")
    assert texts(without_cache, BlockKind.TABLE_ROW)[0] == "Region: North | Sales: 120"  # no "=B2*2"


def test_xlsm_is_detected_by_its_content_type() -> None:
    from office_files import rewrite_zip

    macro = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
    data = rewrite_zip(
        xlsx_bytes(1),
        "[Content_Types].xml",
        lambda xml: xml.replace(
            b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", macro.encode()
        ),
    )
    assert detect_type(data, "x.xlsm") == formats.XLSM
    assert parse(data).mime == formats.XLSM


def test_csv_dialect_encoding_and_rows() -> None:
    data = "Stadt;Einwohner\nMünchen;1500000\nKöln;1080000\n".encode("cp1252")
    doc = parse(data, "staedte.csv")
    assert doc.mime == formats.CSV
    assert texts(doc, BlockKind.TABLE_ROW) == [
        "Stadt: München | Einwohner: 1500000",
        "Stadt: Köln | Einwohner: 1080000",
    ]
    quoted = parse(b'name,quote\nAda,"hello, world"\nBob,"multi\nline"\n', "q.csv")
    assert texts(quoted, BlockKind.TABLE_ROW) == [
        "name: Ada | quote: hello, world",
        "name: Bob | quote: multi line",
    ]
    bomless = parse("Stadt,Land\nWien,Österreich\n".encode("utf-16-le"), "utf16.csv")
    assert texts(bomless, BlockKind.TABLE_ROW) == ["Stadt: Wien | Land: Österreich"]
    tsv = parse(b"a\tb\n1\t2\n", "t.tsv")
    assert tsv.mime == formats.TSV and texts(tsv, BlockKind.TABLE_ROW) == ["a: 1 | b: 2"]


def test_csv_rows_are_never_cut_across_chunks() -> None:
    lines = ["id,city,remark"] + [
        f"{i},Town {i},A remark. With sentences. Several of them." for i in range(300)
    ]
    doc = parse("\n".join(lines).encode(), "big.csv")
    rows = {(b.start, b.end) for b in doc.blocks if b.kind is BlockKind.TABLE_ROW}
    drafts = chunk_document(doc, max_tokens=128, target_tokens=100, count_tokens=count_tokens)
    assert len(drafts) > 20
    for draft in drafts:
        for start, end in rows:
            assert end <= draft.start or start >= draft.end or (draft.start <= start and end <= draft.end)


def test_odt_and_ods() -> None:
    odt = parse(odf_bytes("application/vnd.oasis.opendocument.text", ODT_BODY), "rules.odt")
    assert odt.mime == formats.ODT
    assert texts(odt, BlockKind.HEADING) == ["Harbour rules"]
    assert "Boats must moor at pier four." in texts(odt, BlockKind.PARAGRAPH)
    assert texts(odt, BlockKind.LIST_ITEM) == ["No fishing"]
    assert texts(odt, BlockKind.TABLE_ROW) == ["Day: Monday | Tide: High"]
    ods = parse(odf_bytes("application/vnd.oasis.opendocument.spreadsheet", ODS_BODY), "fleet.ods")
    assert ods.mime == formats.ODS and ods.page_count == 1
    assert texts(ods, BlockKind.TABLE_ROW) == [
        "Boat: Albatross | Crew: 7"
    ]  # 16000 empty columns, 1M empty rows
    assert texts(ods, BlockKind.HEADING) == ["Fleet"]


def test_epub_spine_order_and_chapters() -> None:
    doc = parse(epub_bytes(), "book.epub")
    assert doc.mime == formats.EPUB
    assert doc.title == "Snow Book"
    assert texts(doc, BlockKind.HEADING) == ["Skiing", "Sledging"]  # spine order, not manifest order
    sledges = [b for b in doc.blocks if doc.text[b.start : b.end] == "Sledges are fast."]
    assert sledges[0].page == 2 and sledges[0].heading_path == ("Sledging",)


def test_eml_headers_body_and_attachments_carried_for_the_worker() -> None:
    doc = parse(eml_bytes(attachment=("fees.csv", b"vessel,fee\nTrawler,40\n")), "mail.eml")
    assert doc.mime == formats.EML and doc.title == "Pier repairs"
    assert "From: Ada <ada@example.org>\nTo: Bob <bob@example.org>" in doc.text
    assert "The pier reopens in May." in texts(doc, BlockKind.PARAGRAPH)
    assert "Attachments: fees.csv" in doc.text
    # the attachment is not indexed in the e-mail: the worker submits it as its own document
    assert doc.attachments == (Attachment("fees.csv", b"vessel,fee\nTrawler,40\n"),)
    assert "Trawler" not in doc.text
    html = parse(eml_bytes(html_only=True), "mail.eml")
    assert "Repairs" in texts(html, BlockKind.HEADING)
    assert "The pier reopens in May." in texts(html, BlockKind.PARAGRAPH)
    assert html.attachments == ()


def test_rtf_json_and_ndjson() -> None:
    rtf = parse(
        rb"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Caf\'e9 opens at nine.\par Second line.\par}"
    )
    assert rtf.mime == formats.RTF
    assert texts(rtf, BlockKind.PARAGRAPH) == ["Café opens at nine.", "Second line."]
    records = [{"sku": "A1", "price": 12.5, "tags": ["red", "big"], "dims": {"w": 3}}, {"sku": "B2"}]
    doc = parse(json.dumps(records).encode(), "items.json")
    assert doc.mime == formats.JSON
    assert texts(doc, BlockKind.TABLE_ROW) == [
        "sku: A1\nprice: 12.5\ntags[0]: red\ntags[1]: big\ndims.w: 3",
        "sku: B2",
    ]
    nd = parse(b'{"a": 1}\n{"a": 2, "b": null}\n', "x.ndjson")
    assert nd.mime == formats.NDJSON and texts(nd, BlockKind.TABLE_ROW) == ["a: 1", "a: 2"]
    big = parse(json.dumps({"items": list(range(5000))}).encode(), "big.json")
    assert "items: (4000 more items left out)" in big.text


@pytest.mark.parametrize(
    ("name", "mime", "expected"),
    [
        (
            "fake-power-point-table.pptx",
            formats.PPTX,
            "Column 1: Purple | Column 2: Orange | Column 3: Yellow",
        ),
        ("stanley-cups.xlsx", formats.XLSX, "Team: Maple Leafs | Location: TOR | Stanley Cups: 13"),
        ("stanley-cups-utf-16.csv", formats.CSV, "Team: Flyers | Location: PHI | Stanley Cups: 2"),
        (
            "semicolon-delimited.csv",
            formats.CSV,
            "Lorem, ipsum: ut labore | dolor sit: et, dolore | amet: magna aliqua",
        ),
        ("fake-email.msg", formats.MSG, "Violets are blue"),
        ("fake-email-attachment.msg", formats.MSG, "Attachments: fake-attachment.txt"),
        ("fake-email.eml", formats.EML, "Roses are red"),
        ("winter-sports.epub", formats.EPUB, "Winter Sports in Switzerland"),
        ("fake.odt", formats.ODT, "Header row: Leader | Mon: Sarah | Wed: Mark | Fri: Ryan"),
        ("fake-doc.rtf", formats.RTF, "My first paragraph."),
        ("simple.ndjson", formats.NDJSON, "metadata.filename: simple.docx"),
    ],
)
def test_shared_files(name: str, mime: str, expected: str) -> None:
    path = DOCS / name
    require(path.is_file(), str(path))
    doc = parse(path.read_bytes(), name)
    assert doc.mime == mime
    assert expected in doc.text
