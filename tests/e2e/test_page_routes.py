"""The routes the page reads besides the core API (docs/web.md): a cited PDF page as an image, the
quote's boxes on it, and the caller's conversations. Tenant isolation of all three is in
tests/e2e/test_isolation.py (generated from /openapi.json)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from api_calls import error_code, upload
from docs_factory import make_pdf
from queue_helpers import sql

LINES = [
    "Harbour rules",
    "Boats must moor at the north quay after sunset.",
    "The harbour master keeps the spare keys in the tide office.",
]


@pytest.fixture(scope="module")
def pdf(client: httpx.Client) -> dict[str, Any]:
    found = upload(client, "pages", "harbour.pdf", make_pdf([LINES, ["Page two is short."]]))
    assert found.status_code == 201, found.text
    return dict(found.json())


def test_a_pdf_page_is_an_image_with_the_quote_boxed(client: httpx.Client, pdf: dict[str, Any]) -> None:
    page = client.get(f"/v1/documents/{pdf['id']}/pages/1")
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(page.content))
    quote = "The harbour master keeps the spare keys"
    found = client.get(f"/v1/documents/{pdf['id']}/pages/1/boxes", params={"quote": quote})
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["width"], body["height"]) == image.size and body["page_count"] == 2
    assert body["matched"] == quote and len(body["boxes"]) == 1
    left, top, right, bottom = body["boxes"][0]
    assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height
    # The box is on the third line: below the first two, and its pixels are ink, not blank paper.
    assert top > image.height * 0.05
    crop = image.convert("L").crop((left, top, right, bottom))
    assert crop.getextrema()[0] < 128
    # A quote broken over lines differently, in another case, still matches; one not there does not.
    loose = client.get(
        f"/v1/documents/{pdf['id']}/pages/1/boxes", params={"quote": "after   sunset.\nthe HARBOUR"}
    ).json()
    assert len(loose["boxes"]) == 2 and loose["matched"].startswith("after sunset.")
    absent = client.get(f"/v1/documents/{pdf['id']}/pages/1/boxes", params={"quote": "lighthouse"})
    assert absent.status_code == 200 and absent.json()["boxes"] == [] and absent.json()["matched"] == ""


def test_pages_that_cannot_be_shown_are_typed_errors(
    client: httpx.Client, pdf: dict[str, Any], database_url: str
) -> None:
    past = client.get(f"/v1/documents/{pdf['id']}/pages/3")
    assert past.status_code == 404 and error_code(past) == "page_not_found"
    zero = client.get(f"/v1/documents/{pdf['id']}/pages/0")
    assert zero.status_code == 422
    text = upload(client, "pages", "notes.md", b"# Notes\n\nNo pages here.\n").json()
    for path in (f"/v1/documents/{text['id']}/pages/1", f"/v1/documents/{text['id']}/pages/1/boxes"):
        refused = client.get(path)
        assert refused.status_code == 409 and error_code(refused) == "page_unavailable", refused.text
    # A PDF in a collection that redacts PII: its kept original holds what was redacted.
    assert client.post("/v1/collections", json={"name": "redacting"}).status_code == 201
    pii = client.put("/v1/collections/redacting/pii", json={"redact": True, "keep_original": "encrypted"})
    assert pii.status_code == 200, pii.text
    redacted = upload(client, "redacting", "r.pdf", make_pdf([["Call 555-0100 at the quay."]])).json()
    assert sql(database_url, "SELECT count(*) FROM originals WHERE document_id = %s", redacted["id"]) == [
        (1,)
    ]
    refused = client.get(f"/v1/documents/{redacted['id']}/pages/1")
    assert refused.status_code == 409 and error_code(refused) == "page_unavailable"
    # The PDF's original is kept encrypted (never as plain bytes), and goes with its document.
    [(data,)] = sql(database_url, "SELECT data FROM originals WHERE document_id = %s", pdf["id"])
    assert b"harbour master" not in bytes(data) and b"%PDF" not in bytes(data)[:16]
    gone = upload(client, "pages", "gone.pdf", make_pdf([["A page about gulls."]])).json()
    assert client.delete(f"/v1/documents/{gone['id']}").status_code == 204
    assert sql(database_url, "SELECT count(*) FROM originals WHERE document_id = %s", gone["id"]) == [(0,)]
    assert client.get(f"/v1/documents/{gone['id']}/pages/1").status_code == 404


def test_conversations_are_listed_for_their_caller_only(client: httpx.Client, base_url: str) -> None:
    mine = client.post("/v1/conversations", json={"title": "harbour"}).json()
    asked = client.post(
        "/v1/ask",
        json={
            "question": "Where are the spare keys?",
            "collections": ["pages"],
            "conversation_id": mine["id"],
        },
    )
    assert asked.status_code == 200, asked.text
    listed = client.get("/v1/conversations").json()
    assert listed[0]["id"] == mine["id"]
    assert listed[0]["turn_count"] == 1 and listed[0]["first_question"] == "Where are the spare keys?"
    assert "turns" not in listed[0]
    other_key = client.post("/v1/keys", json={"name": "other", "role": "reader"}).json()["key"]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {other_key}"}) as other:
        assert other.get("/v1/conversations").json() == []  # the same tenant, another caller
        theirs = other.post("/v1/conversations", json={"title": "theirs"}).json()
        assert [c["id"] for c in other.get("/v1/conversations").json()] == [theirs["id"]]
    assert theirs["id"] not in [c["id"] for c in client.get("/v1/conversations").json()]
    assert client.get("/v1/conversations", params={"limit": 0}).status_code == 422
