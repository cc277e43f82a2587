"""Small documents of the issue-19 formats, written by their own libraries for the tests."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage


def pptx_bytes(slides: int = 2) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    for number in range(1, slides + 1):
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = f"Quarterly review {number}"
        body = slide.placeholders[1].text_frame
        body.text = f"The lighthouse keepers met on slide {number}."
        sub = body.add_paragraph()
        sub.text = "A sub-point"
        sub.level = 1
        slide.notes_slide.notes_text_frame.text = f"Speak slowly about item {number}."
    table_slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    table_slide.shapes.title.text = "Harbour fees"
    shape = table_slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate([("Vessel", "Fee"), ("Trawler", "40 crowns"), ("Ferry", "95 crowns")]):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def xlsx_bytes(rows: int = 3, *, formula_value: str | None = "240") -> bytes:
    """Sheet "Sales": Region/Sales/Double header, ``rows`` rows, and C2 = B2*2 whose cached value
    is ``formula_value`` (as Excel saves it; openpyxl itself writes none); sheet "Notes"."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sales"
    sheet.append(["Region", "Sales", "Double"])
    regions = ["North", "South", "East", "West"]
    for i in range(rows):
        sheet.append([regions[i % 4] if i < 4 else f"Region {i}", 120 + i, "=B2*2" if i == 0 else None])
    notes = workbook.create_sheet("Notes")
    notes.append(["The figures are audited."])
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    if formula_value is None:
        return data
    return rewrite_zip(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace(b"<f>B2*2</f><v></v>", f"<f>B2*2</f><v>{formula_value}</v>".encode()),
    )


def rewrite_zip(data: bytes, member: str, change: object) -> bytes:
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info)
            if info.filename == member:
                content = change(content)  # type: ignore[operator]
            target.writestr(info, content)
    return out.getvalue()


def odf_bytes(mimetype: str, body: str) -> bytes:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">'
        f"<office:body>{body}</office:body></office:document-content>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("META-INF/manifest.xml", "<manifest/>")
    return out.getvalue()


ODT_BODY = (
    "<office:text><text:h text:outline-level='1'>Harbour rules</text:h>"
    "<text:p>Boats must<text:s text:c='1'/>moor at pier four.</text:p>"
    "<text:list><text:list-item><text:p>No fishing</text:p></text:list-item></text:list>"
    "<table:table><table:table-row><table:table-cell><text:p>Day</text:p></table:table-cell>"
    "<table:table-cell><text:p>Tide</text:p></table:table-cell></table:table-row>"
    "<table:table-row><table:table-cell><text:p>Monday</text:p></table:table-cell>"
    "<table:table-cell><text:p>High</text:p></table:table-cell></table:table-row></table:table>"
    "</office:text>"
)

ODS_BODY = (
    "<office:spreadsheet><table:table table:name='Fleet'>"
    "<table:table-row><table:table-cell><text:p>Boat</text:p></table:table-cell>"
    "<table:table-cell><text:p>Crew</text:p></table:table-cell></table:table-row>"
    "<table:table-row><table:table-cell><text:p>Albatross</text:p></table:table-cell>"
    "<table:table-cell office:value='7'><text:p>7</text:p></table:table-cell>"
    "<table:table-cell table:number-columns-repeated='16000'/></table:table-row>"
    "<table:table-row table:number-rows-repeated='1048000'><table:table-cell/></table:table-row>"
    "</table:table></office:spreadsheet>"
)


def epub_bytes() -> bytes:
    out = io.BytesIO()
    chapter = (
        '<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>{t}</title></head><body>{b}</body></html>"
    )
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>'
            '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        archive.writestr(
            "OEBPS/book.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Snow Book</dc:title></metadata>'
            '<manifest><item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/>'
            '<item id="c1" href="text/one%20a.xhtml" media-type="application/xhtml+xml"/></manifest>'
            '<spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>',
        )
        archive.writestr(
            "OEBPS/text/one a.xhtml", chapter.format(t="One", b="<h1>Skiing</h1><p>Skis are long.</p>")
        )
        archive.writestr("OEBPS/text/two.xhtml", chapter.format(t="Sledging", b="<p>Sledges are fast.</p>"))
    return out.getvalue()


def eml_bytes(*, attachment: tuple[str, bytes] | None = None, html_only: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = "Ada <ada@example.org>"
    message["To"] = "Bob <bob@example.org>"
    message["Date"] = "Tue, 01 Oct 2024 12:34:56 -0500"
    message["Subject"] = "Pier repairs"
    if html_only:
        message.set_content(
            "<html><body><h1>Repairs</h1><p>The pier reopens in May.</p></body></html>", "html"
        )
    else:
        message.set_content("The pier reopens in May.\n\nBring boots.")
    if attachment is not None:
        name, payload = attachment
        message.add_attachment(payload, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()
