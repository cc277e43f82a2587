"""OCR with Tesseract (docrag/ingest/parsers/ocr.py): images and scanned PDF pages, read with
their page and line boxes, refused with typed codes when OCR is off or a limit is passed.

The page images are drawn here with Pillow in DejaVu Sans (Debian's fonts-dejavu-core), so the
expected text and where it sits are known exactly."""

from __future__ import annotations

import shutil

import httpx
import pytest
from pydantic import ValidationError

from ci_strict import needs
from docrag.domain import BlockKind
from docrag.errors import ImageTooLarge, NoTextLayer, OcrDisabled, OcrFailed, UnreadableFile
from docrag.ingest.chunking import chunk_document
from docrag.ingest.detect import PNG, TIFF
from docrag.ingest.parsers import OcrOptions, ParseLimits, parse
from docrag.ingest.sandbox import ParseSandbox
from docrag.settings import Settings
from scanned_pages import PAGE_ONE, PAGE_TWO, encoded, page

ON = ParseLimits(ocr=OcrOptions())

pytestmark = [
    needs(shutil.which("tesseract") is not None, "tesseract (tesseract-ocr; .ci/run installs it)"),
    pytest.mark.shared_server,  # one server for the session: its HTTP test uses a collection of its own
]


def test_image_text_and_line_boxes() -> None:
    doc = parse(encoded(page(PAGE_ONE)), "scan.png", ON)
    assert doc.mime == PNG and doc.page_count == 1
    for _, text in PAGE_ONE:
        assert text in doc.text
    paragraphs = [doc.text[b.start : b.end] for b in doc.blocks]
    assert paragraphs == [f"{PAGE_ONE[0][1]}\n{PAGE_ONE[1][1]}", PAGE_ONE[2][1]]
    assert all(b.kind is BlockKind.PARAGRAPH and b.page == 1 for b in doc.blocks)
    # One box per line, on the text it covers, where the line was drawn.
    assert [doc.text[b.start : b.end] for b in doc.boxes] == [text for _, text in PAGE_ONE]
    for box, (top, _) in zip(doc.boxes, PAGE_ONE, strict=True):
        left, upper, right, lower = box.box
        assert box.page == 1 and (box.width, box.height) == (1700, 900)
        assert 95 <= left <= 110 and top - 5 <= upper <= top + 20 and upper < lower <= top + 50
        assert right > 600
    # A quote (or a chunk) finds the boxes it covers.
    start = doc.text.index("Penguins")
    assert [b.box[1] for b in doc.boxes_in(start, start + 8)] == [doc.boxes[2].box[1]]
    (chunk,) = chunk_document(doc)
    assert chunk.page_start == chunk.page_end == 1
    assert len(doc.boxes_in(chunk.start, chunk.end)) == 3


def test_ocr_off_refuses_an_image_and_says_how_to_enable_it() -> None:
    with pytest.raises(OcrDisabled, match="DOCRAG_OCR=on") as refused:
        parse(encoded(page(PAGE_ONE)), "scan.png")
    assert (refused.value.code, refused.value.status) == ("ocr_disabled", 415)


def test_scanned_pdf_pages_are_read_with_their_pages() -> None:
    scan = encoded(page(PAGE_ONE), "PDF", resolution=200, save_all=True, append_images=[page(PAGE_TWO)])
    with pytest.raises(NoTextLayer, match="DOCRAG_OCR=on") as refused:
        parse(scan, "scan.pdf")
    assert refused.value.code == "no_text_layer"
    doc = parse(scan, "scan.pdf", ON)
    assert doc.page_count == 2
    assert PAGE_TWO[0][1] in doc.text and PAGE_ONE[2][1] in doc.text
    assert [b.page for b in doc.blocks] == [1, 1, 2]
    assert [b.page for b in doc.boxes] == [1, 1, 1, 2]
    second = doc.boxes[-1]
    assert doc.text[second.start : second.end] == PAGE_TWO[0][1]


def test_multi_page_tiff() -> None:
    tiff = encoded(page(PAGE_ONE), "TIFF", save_all=True, append_images=[page(PAGE_TWO)])
    doc = parse(tiff, "scan.tiff", ON)
    assert doc.mime == TIFF and doc.page_count == 2
    assert doc.blocks[-1].page == 2 and doc.text.endswith(PAGE_TWO[0][1])


def test_limits_and_failures_are_typed() -> None:
    image = encoded(page(PAGE_ONE))
    with pytest.raises(ImageTooLarge) as large:
        parse(image, "scan.png", ParseLimits(ocr=OcrOptions(max_pixels=1_000_000)))
    assert (large.value.code, large.value.status) == ("image_too_large", 413)
    with pytest.raises(OcrFailed, match="DOCRAG_OCR_PAGE_SECONDS"):
        parse(image, "scan.png", ParseLimits(ocr=OcrOptions(page_seconds=0.001)))
    with pytest.raises(OcrFailed, match="Tesseract failed"):
        parse(image, "scan.png", ParseLimits(ocr=OcrOptions(languages="xxx")))  # no such traineddata
    with pytest.raises(UnreadableFile):
        parse(image[:40] + b"\x00" * 200, "broken.png", ON)


def test_ocr_runs_in_the_sandbox() -> None:
    sandbox = ParseSandbox(ON, timeout_seconds=60, memory_mb=1024)
    try:
        doc = sandbox.parse(encoded(page(PAGE_ONE), "JPEG", quality=90), "scan.jpg")
    finally:
        sandbox.close()
    assert PAGE_ONE[0][1] in doc.text and len(doc.boxes) == 3


def test_languages_setting_is_checked() -> None:
    assert Settings(ocr="on", ocr_languages="eng+deu").ocr_languages == "eng+deu"
    with pytest.raises(ValidationError):
        Settings(ocr_languages="eng --psm 0")


def test_upload_of_an_image_while_ocr_is_off(client: httpx.Client) -> None:
    response = client.post(
        "/v1/collections/ocr-off/documents",
        files={"file": ("scan.png", encoded(page(PAGE_ONE)), "image/png")},
    )
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "ocr_disabled" and "DOCRAG_OCR=on" in error["message"]
