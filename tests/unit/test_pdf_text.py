"""A PDF page's text from PDFium (docrag/ingest/parsers/pdf_text.py): its markers normalised, its
streams held to the decompression limit, and pypdf's text where PDFium reads a page worse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from docrag.errors import DecompressionBomb
from docrag.ingest.parsers import ParseLimits, parse
from docs_factory import make_pdf
from hostile_factory import (
    MiB,
    flate_bomb_pdf,
    font_bomb_pdf,
    form_bomb_pdf,
    lying_count_pdf,
    ocr_layer_pdf,
    page_with_kids_pdf,
)

LIMITS = ParseLimits(max_decompressed_bytes=8 * MiB)


def test_a_hyphen_at_a_line_end_is_joined_as_before() -> None:
    # PDFium joins the lines and marks the hyphen with U+FFFE; the paragraph logic needs both back.
    data = make_pdf(
        [["The harbour master keeps an exam-", "ple of every knot in a case of well-", "Known ropes."]]
    )
    text = parse(data, "knots.pdf").text
    assert text == "The harbour master keeps an example of every knot in a case of well- Known ropes."


@pytest.mark.parametrize("make", [flate_bomb_pdf, font_bomb_pdf, form_bomb_pdf], ids=lambda f: f.__name__)
def test_a_bomb_in_any_stream_pdfium_decodes_is_refused(make: Callable[[int], bytes]) -> None:
    assert parse(make(1000), "small.pdf", LIMITS).text == "A real page of the document."
    with pytest.raises(DecompressionBomb):
        parse(make(16 * MiB), "bomb.pdf", LIMITS)


def test_an_ocr_layer_keeps_the_spaces_it_was_written_with() -> None:
    words = "North Buona Vista Drive in the Metropolis Tower".split()
    assert parse(ocr_layer_pdf(words), "scan.pdf").text == " ".join(words)


def test_a_page_tree_that_lies_about_its_count_is_read_from_the_walked_tree() -> None:
    # PDFium trusts /Count (a million pages here); the one real page is still read.
    doc = parse(lying_count_pdf(1_000_000), "odd.pdf")
    assert doc.page_count == 1
    assert doc.text == "A real page of the document."


def test_a_page_tree_pdfium_numbers_differently_is_read_by_pypdf() -> None:
    doc = parse(page_with_kids_pdf(), "report.pdf")
    by_page = [(b.page, doc.text[b.start : b.end]) for b in doc.blocks]
    assert by_page == [
        (1, "Page one of the report."),
        (2, "Page two of the report."),
        (3, "Page three of the report."),
    ]
