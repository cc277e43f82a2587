"""With DOCRAG_OCR=on, an uploaded scan is indexed through the queue and worker, and a search
hit on it says where each of its lines sits on the page (chunks.boxes, migration 0140)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from ci_strict import needs
from docrag.settings import Settings
from docrag.store.roles import with_user
from scanned_pages import PAGE_ONE, PAGE_TWO, encoded, page

pytestmark = needs(shutil.which("tesseract") is not None, "tesseract (tesseract-ocr; .ci/run installs it)")


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    """conftest's settings, with OCR on."""
    if service_role is None:
        return Settings(database_url=database_url, pool_max_size=8, ocr="on")
    return Settings(
        database_url=with_user(database_url, service_role),
        database_owner_url=database_url,
        pool_max_size=8,
        ocr="on",
    )


def test_scanned_pdf_is_searchable_with_line_boxes(client: httpx.Client) -> None:
    assert client.post("/v1/collections", json={"name": "scans"}).status_code == 201
    scan = encoded(page(PAGE_ONE), "PDF", resolution=200, save_all=True, append_images=[page(PAGE_TWO)])
    uploaded = client.post(
        "/v1/collections/scans/documents",
        params={"wait": "true"},
        files={"file": ("scan.pdf", scan, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["page_count"] == 2

    found = client.post("/v1/search", json={"query": "lighthouses and ships", "collections": ["scans"]})
    assert found.status_code == 200, found.text
    hits = found.json()["hits"]
    hit = next(h for h in hits if "lighthouses" in h["text"])
    assert hit["page_start"] <= 2 == hit["page_end"]
    (line,) = [b for b in hit["boxes"] if b["page"] == 2]
    assert (line["width"], line["height"]) == (page(PAGE_TWO).width, page(PAGE_TWO).height)
    left, top, right, bottom = line["box"]
    assert 95 <= left <= 110 and PAGE_TWO[0][0] - 5 <= top < bottom <= PAGE_TWO[0][0] + 50 and right > 600

    image = client.post(
        "/v1/collections/scans/documents",
        params={"wait": "true"},
        files={"file": ("scan.png", encoded(page(PAGE_ONE)), "image/png")},
    )
    assert image.status_code == 201, image.text


def test_a_citation_of_a_scan_says_where_its_quote_sits(client: httpx.Client) -> None:
    """An answer quoting OCR'd text cites the page and the box of the line that holds the quote
    (not the whole chunk's lines), in the answer and in the stored answer."""
    assert client.post("/v1/collections", json={"name": "scan-cites"}).status_code == 201
    scan = encoded(page(PAGE_ONE), "PDF", resolution=200, save_all=True, append_images=[page(PAGE_TWO)])
    uploaded = client.post(
        "/v1/collections/scan-cites/documents",
        params={"wait": "true"},
        files={"file": ("scan.pdf", scan, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text

    asked = client.post("/v1/ask", json={"question": "When are invoices due?", "collections": ["scan-cites"]})
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["answered"], answer
    citation = answer["sentences"][0]["citations"][0]
    assert "Invoices are due within thirty days" in citation["quote"]
    assert citation["page"] == 1
    (line,) = citation["boxes"]  # the quote's line only: the paragraph's first line is not cited
    assert line["page"] == 1 and (line["width"], line["height"]) == (
        page(PAGE_ONE).width,
        page(PAGE_ONE).height,
    )
    assert line["start"] < citation["end"] and citation["start"] < line["end"]
    left, top, right, bottom = line["box"]
    quote_top = PAGE_ONE[1][0]  # where the quote's words were drawn, 36 px high, from x=100
    assert left <= 110 and right > 600 and top < quote_top + 40 and bottom > quote_top  # overlaps the words
    assert top > PAGE_ONE[0][0] + 20  # and not the line above

    stored = client.get(f"/v1/answers/{answer['answer_id']}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["sentences"][0]["citations"][0]["boxes"] == citation["boxes"]
