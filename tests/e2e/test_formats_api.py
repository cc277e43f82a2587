"""End to end over HTTP: a PPTX, an XLSX and a CSV uploaded to a real server (PostgreSQL, model,
sandboxed parsing), then questions whose answers cite a slide (its number as the page) and a
spreadsheet or CSV row (quoted whole, with its column names)."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import pytest
from openpyxl import Workbook
from pptx import Presentation

from docrag.services import Runtime

COLLECTION = "formats-e2e"


def _pptx() -> bytes:
    presentation = Presentation()
    facts = [
        ("Harbour overview", "The harbour of Port Ellen has three piers."),
        ("Lighthouse upkeep", "The Zephyrine lighthouse lamp is replaced every seven years."),
    ]
    for title, body in facts:
        slide = presentation.slides.add_slide(presentation.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def _xlsx() -> bytes:
    workbook = Workbook()
    workbook.active.title = "Summary"
    workbook.active.append(["The fleet register lists the boats of the cooperative."])
    fleet = workbook.create_sheet("Fleet")
    fleet.append(["Vessel", "Home port", "Crew"])
    fleet.append(["Albatross", "Kirkwall", "The Albatross trawler carries a crew of seven sailors."])
    fleet.append(["Puffin", "Stromness", "The Puffin ferry carries a crew of three sailors."])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


_CSV = (
    "Market;Opening day;Remark\n"
    "Fish market;Tuesday;The fish market of Lerwick opens on Tuesday at dawn.\n"
    "Wool market;Saturday;The wool market sells Shetland yarn every Saturday.\n"
).encode("cp1252")


@pytest.fixture(scope="module")
def uploaded(client: httpx.Client) -> dict[str, dict[str, Any]]:
    assert client.post("/v1/collections", json={"name": COLLECTION}).status_code == 201
    out: dict[str, dict[str, Any]] = {}
    for key, name, data in (
        ("pptx", "harbour.pptx", _pptx()),
        ("xlsx", "fleet.xlsx", _xlsx()),
        ("csv", "markets.csv", _CSV),
    ):
        response = client.post(
            f"/v1/collections/{COLLECTION}/documents",
            params={"wait": "true"},
            files={"file": (name, data, "application/octet-stream")},
        )
        assert response.status_code == 201, response.text
        out[key] = response.json()
    return out


def _citations(client: httpx.Client, question: str) -> list[dict[str, Any]]:
    answer = client.post("/v1/ask", json={"question": question, "collections": [COLLECTION]}).json()
    assert answer["answered"] is True, answer
    return [c for s in answer["sentences"] for c in s["citations"]]


def _check_quote(runtime: Runtime, citation: dict[str, Any]) -> None:
    from uuid import UUID

    text, _ = runtime.store.document_text(runtime.default_tenant, UUID(citation["document_id"]))
    assert text[citation["start"] : citation["end"]] == citation["quote"]


def test_documents_are_typed_and_paged(uploaded: dict[str, dict[str, Any]]) -> None:
    assert uploaded["pptx"]["mime"].endswith("presentationml.presentation")
    assert uploaded["pptx"]["page_count"] == 2
    assert uploaded["xlsx"]["page_count"] == 2
    assert uploaded["csv"]["mime"] == "text/csv"
    assert all(doc["status"] == "indexed" and doc["chunk_count"] >= 1 for doc in uploaded.values())


def test_answer_cites_the_slide(
    client: httpx.Client, runtime: Runtime, uploaded: dict[str, dict[str, Any]]
) -> None:
    cited = _citations(client, "How often is the Zephyrine lighthouse lamp replaced?")
    lamp = [c for c in cited if "seven years" in c["quote"]]
    assert lamp, cited
    assert lamp[0]["document_id"] == uploaded["pptx"]["id"]
    assert lamp[0]["page"] == 2
    _check_quote(runtime, lamp[0])


def test_answer_cites_a_spreadsheet_row(
    client: httpx.Client, runtime: Runtime, uploaded: dict[str, dict[str, Any]]
) -> None:
    cited = _citations(client, "How many sailors are in the crew of the Albatross trawler?")
    row = [c for c in cited if "crew of seven" in c["quote"]]
    assert row, cited
    assert row[0]["document_id"] == uploaded["xlsx"]["id"]
    assert row[0]["page"] == 2  # the "Fleet" sheet
    assert row[0]["quote"] == (
        "Vessel: Albatross | Home port: Kirkwall | "
        "Crew: The Albatross trawler carries a crew of seven sailors."
    )
    _check_quote(runtime, row[0])


def test_answer_cites_a_csv_row(
    client: httpx.Client, runtime: Runtime, uploaded: dict[str, dict[str, Any]]
) -> None:
    cited = _citations(client, "On which day does the Lerwick fish market open?")
    row = [c for c in cited if "Lerwick" in c["quote"]]
    assert row, cited
    assert row[0]["document_id"] == uploaded["csv"]["id"]
    assert row[0]["quote"].startswith("Market: Fish market | Opening day: Tuesday | Remark:")
    _check_quote(runtime, row[0])


def test_email_attachment_becomes_a_document_of_its_own(client: httpx.Client, runtime: Runtime) -> None:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Ada <ada@example.org>"
    message["To"] = "Harbour office <office@example.org>"
    message["Subject"] = "Mooring fees for the new season"
    message.set_content("Please find the mooring fees attached.")
    fees = b"Vessel,Fee\nTrawler,The mooring fee for a trawler at Scalloway is forty crowns a night.\n"
    message.add_attachment(fees, maintype="text", subtype="csv", filename="mooring-fees.csv")
    message.add_attachment(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, maintype="image", subtype="png", filename="logo.png"
    )
    response = client.post(
        f"/v1/collections/{COLLECTION}/documents",
        params={"wait": "true"},
        files={"file": ("fees.eml", message.as_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "Mooring fees for the new season"
    deadline = time.monotonic() + 60
    attached: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = client.get(f"/v1/collections/{COLLECTION}/documents").json()
        documents = listed["documents"] if isinstance(listed, dict) else listed
        attached = [d for d in documents if d["filename"] == "mooring-fees.csv"]
        if attached and attached[0]["status"] == "indexed":
            break
        time.sleep(0.2)
    assert attached and attached[0]["status"] == "indexed", attached
    assert not [d for d in documents if d["filename"] == "logo.png"]  # unsupported: not stored
    cited = _citations(client, "How much is the mooring fee for a trawler at Scalloway?")
    row = [c for c in cited if "forty crowns" in c["quote"]]
    assert row and row[0]["document_id"] == attached[0]["id"], cited
    assert row[0]["quote"].startswith("Vessel: Trawler | Fee:")
    _check_quote(runtime, row[0])
