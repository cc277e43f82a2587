"""The HTTP API end to end: a real uvicorn server, real PostgreSQL, the real model."""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from pypdf import PdfReader

from api_calls import error_code, upload
from docrag.api.app import create_app
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from docs_factory import PNG_BYTES, make_docx, make_pdf
from http_servers import serve

KB = "kb"

MARKDOWN = b"""# Lighthouse Handbook

## Lamp replacement

The keeper replaces the lamp of the Brightwater lighthouse every six months.
Spare lamps are stored in the oil room at the foot of the tower.

## Fog signals

The fog horn sounds twice every thirty seconds when visibility drops below one mile.
"""

HTML = (
    b"<!doctype html><html><head><title>Beekeeping Notes</title></head><body>"
    b"<h1>Beekeeping Notes</h1><h2>Hive inspection</h2>"
    b"<p>Inspect each hive every nine days during the swarming season.</p>"
    b"<p>Look for queen cells along the bottom edge of the brood frames.</p>"
    b"</body></html>"
)

TEXT = (
    b"Sourdough starter care.\n\n"
    b"Feed the starter with equal weights of rye flour and water every twelve hours.\n"
    b"Keep the jar at room temperature and discard half before each feeding.\n"
)

PDF_PAGES = [
    [
        "Arctic Survey Report",
        "The survey team mapped the coastline near the research station.",
        "Weather stayed calm for most of the first week of fieldwork.",
    ],
    [
        "Glacier measurements",
        "The Zephyrine glacier moves forty meters every year.",
        "Its ice is roughly three hundred meters thick near the terminus.",
    ],
]
PDF = make_pdf(PDF_PAGES, title="Arctic Survey")

DOCX = make_docx(
    "Volcano Field Guide",
    [
        (
            "Eruption types",
            ["Strombolian eruptions throw glowing cinders a few hundred meters into the air."],
        ),
        ("Visitor safety", ["Visitors must stay two kilometers away from the crater rim of Mount Etna."]),
    ],
    [["Volcano", "Height"], ["Etna", "3357 meters"], ["Stromboli", "924 meters"]],
)


def stored_text(runtime: Runtime, tenant: UUID, document_id: str) -> tuple[str, list[int]]:
    return runtime.store.document_text(tenant, UUID(document_id))


@pytest.fixture(scope="module")
def docs(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """The five kinds of documents, uploaded once into the collection ``kb``."""
    uploads = {
        # Markdown bytes under a misleading name: the type comes from the bytes.
        "md": ("notes.pdf", MARKDOWN, None),
        "html": ("bees.html", HTML, None),
        "txt": ("bread.txt", TEXT, "Sourdough Guide"),
        "docx": ("volcano.docx", DOCX, None),
        "pdf": ("arctic.pdf", PDF, None),
    }
    out: dict[str, dict[str, Any]] = {}
    for key, (name, data, title) in uploads.items():
        response = upload(client, KB, name, data, title)
        assert response.status_code == 201, response.text
        out[key] = response.json()
    return out


@pytest.fixture(scope="module")
def reader(base_url: str, runtime: Runtime) -> Iterator[httpx.Client]:
    key = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "r", key, "reader")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def other_tenant(runtime: Runtime) -> UUID:
    return runtime.store.ensure_tenant("other")


@pytest.fixture(scope="module")
def other(base_url: str, runtime: Runtime, other_tenant: UUID) -> Iterator[httpx.Client]:
    """An admin of a second tenant."""
    key = new_api_key()
    runtime.store.add_api_key(other_tenant, "other admin", key, "admin")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
        yield c


# -- health and pages ----------------------------------------------------------------------


def test_health_docs_and_page(anon: httpx.Client) -> None:
    live = anon.get("/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}

    ready = anon.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "model": "ok"}}

    swagger = anon.get("/docs")
    assert swagger.status_code == 200
    assert "swagger" in swagger.text.lower()

    spec = anon.get("/openapi.json").json()
    assert "/v1/ask" in spec["paths"]
    assert "post" in spec["paths"]["/v1/ask"]
    assert "/v1/collections/{name}/documents" in spec["paths"]

    page = anon.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()


# -- auth ----------------------------------------------------------------------------------


def test_requests_without_a_valid_key_are_refused(anon: httpx.Client) -> None:
    missing = anon.get("/v1/collections")
    assert missing.status_code == 401
    assert error_code(missing) == "unauthenticated"

    for header in ("Bearer drg_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer"):
        wrong = anon.get("/v1/collections", headers={"Authorization": header})
        assert wrong.status_code == 401, header
        assert error_code(wrong) == "unauthenticated"

    refused = anon.post("/v1/search", json={"query": "lighthouse", "collections": [KB]})
    assert refused.status_code == 401


def test_reader_can_read_but_not_write(
    reader: httpx.Client, client: httpx.Client, docs: dict[str, dict[str, Any]]
) -> None:
    assert KB in [c["name"] for c in reader.get("/v1/collections").json()]
    found = reader.post("/v1/search", json={"query": "Brightwater lighthouse lamp", "collections": [KB]})
    assert found.status_code == 200
    assert found.json()["hits"]

    refused = upload(reader, KB, "x.txt", b"A reader may not add this text to the collection.")
    assert refused.status_code == 403
    assert error_code(refused) == "forbidden"

    doc_id = docs["txt"]["id"]
    delete = reader.delete(f"/v1/documents/{doc_id}")
    assert delete.status_code == 403
    assert error_code(delete) == "forbidden"
    assert client.get(f"/v1/documents/{doc_id}").status_code == 200

    create = reader.post("/v1/collections", json={"name": "readers-own"})
    assert create.status_code == 403
    assert error_code(create) == "forbidden"
    drop = reader.delete(f"/v1/collections/{KB}")
    assert drop.status_code == 403
    assert client.get(f"/v1/collections/{KB}").status_code == 200


# -- collections ---------------------------------------------------------------------------


def test_collection_lifecycle(client: httpx.Client) -> None:
    created = client.post("/v1/collections", json={"name": "projects-2024"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "projects-2024"
    assert body["document_count"] == 0
    assert body["embedding_dim"] > 0
    assert body["embedding_model"]

    again = client.post("/v1/collections", json={"name": "projects-2024"})
    assert again.status_code == 409
    assert error_code(again) == "collection_exists"

    for bad in ("bad name!", "", "-leading-dash", "x" * 101):
        invalid = client.post("/v1/collections", json={"name": bad})
        assert invalid.status_code == 422, bad
        assert error_code(invalid) == "invalid_request"

    listed = client.get("/v1/collections")
    assert listed.status_code == 200
    assert body["id"] in [c["id"] for c in listed.json()]

    got = client.get("/v1/collections/projects-2024")
    assert got.status_code == 200
    assert got.json() == body

    unknown = client.get("/v1/collections/no-such-collection")
    assert unknown.status_code == 404
    assert error_code(unknown) == "collection_not_found"

    assert client.delete("/v1/collections/projects-2024").status_code == 204
    assert client.get("/v1/collections/projects-2024").status_code == 404
    gone = client.delete("/v1/collections/projects-2024")
    assert gone.status_code == 404
    assert error_code(gone) == "collection_not_found"
    assert body["id"] not in [c["id"] for c in client.get("/v1/collections").json()]


# -- uploads -------------------------------------------------------------------------------


def test_generated_pdf_is_a_real_pdf() -> None:
    reader = PdfReader(io.BytesIO(PDF), strict=True)
    assert len(reader.pages) == 2
    for page, lines in zip(reader.pages, PDF_PAGES, strict=True):
        extracted = page.extract_text()
        for line in lines:
            assert line in extracted


def test_uploads_are_parsed_and_typed_from_their_bytes(docs: dict[str, dict[str, Any]]) -> None:
    expected = {
        "md": ("text/markdown", "Lighthouse Handbook", "notes.pdf", MARKDOWN),
        "html": ("text/html", "Beekeeping Notes", "bees.html", HTML),
        "txt": ("text/plain", "Sourdough Guide", "bread.txt", TEXT),
        "docx": (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "Volcano Field Guide",
            "volcano.docx",
            DOCX,
        ),
        "pdf": ("application/pdf", "Arctic Survey", "arctic.pdf", PDF),
    }
    collection_ids = {d["collection_id"] for d in docs.values()}
    assert len(collection_ids) == 1
    assert len({d["id"] for d in docs.values()}) == len(docs)
    for key, (mime, title, filename, data) in expected.items():
        doc = docs[key]
        assert doc["mime"] == mime, key
        assert doc["title"] == title, key
        assert doc["filename"] == filename, key
        assert doc["size_bytes"] == len(data), key
        assert doc["chunk_count"] > 0, key
        assert doc["duplicate"] is False, key
        assert doc["status"] == "indexed"
        assert len(doc["content_hash"]) == 64
    assert docs["pdf"]["page_count"] == 2
    assert docs["md"]["page_count"] is None


def test_docx_text_includes_headings_paragraphs_and_table(
    runtime: Runtime, docs: dict[str, dict[str, Any]]
) -> None:
    text, _ = stored_text(runtime, runtime.default_tenant, docs["docx"]["id"])
    for piece in ("Volcano Field Guide", "Eruption types", "glowing cinders", "Stromboli", "924 meters"):
        assert piece in text


def test_same_bytes_again_is_a_duplicate(client: httpx.Client, docs: dict[str, dict[str, Any]]) -> None:
    again = upload(client, KB, "other-name.md", MARKDOWN)
    assert again.status_code == 200
    body = again.json()
    assert body["duplicate"] is True
    assert body["id"] == docs["md"]["id"]
    assert body["chunk_count"] == docs["md"]["chunk_count"]
    listed = client.get(f"/v1/collections/{KB}/documents").json()
    assert [d["id"] for d in listed].count(docs["md"]["id"]) == 1


def test_list_and_get_documents(client: httpx.Client, docs: dict[str, dict[str, Any]]) -> None:
    listed = client.get(f"/v1/collections/{KB}/documents")
    assert listed.status_code == 200
    ids = {d["id"] for d in listed.json()}
    assert {d["id"] for d in docs.values()} <= ids

    page = client.get(f"/v1/collections/{KB}/documents", params={"limit": 2, "offset": 1}).json()
    assert len(page) == 2
    assert [d["id"] for d in page] == [d["id"] for d in listed.json()][1:3]

    too_many = client.get(f"/v1/collections/{KB}/documents", params={"limit": 0})
    assert too_many.status_code == 422
    assert error_code(too_many) == "invalid_request"

    for doc in docs.values():
        got = client.get(f"/v1/documents/{doc['id']}")
        assert got.status_code == 200
        assert got.json() == {**doc, "duplicate": False}

    collection = client.get(f"/v1/collections/{KB}").json()
    assert collection["document_count"] == len(ids)


def test_upload_errors_are_typed(client: httpx.Client) -> None:
    cases = [
        ("empty.txt", b"", 422, "empty_file"),
        ("blank.txt", b"  \n\t \n", 422, "empty_file"),
        ("image.txt", PNG_BYTES + bytes(64), 415, "ocr_disabled"),  # OCR is off by default
        ("latin1.txt", "Un café très crème, s'il vous plaît.".encode("latin-1"), 422, "unreadable_file"),
        ("broken.docx", b"PK\x03\x04" + b"\x00" * 40, 422, "unreadable_file"),
    ]
    for name, data, status, code in cases:
        response = upload(client, "errors", name, data)
        assert response.status_code == status, (name, response.text)
        assert error_code(response) == code, name
    stored = client.get("/v1/collections/errors/documents")
    assert stored.status_code == 404 or stored.json() == []

    no_file = client.post("/v1/collections/errors/documents", data={"title": "nothing attached"})
    assert no_file.status_code == 422
    assert error_code(no_file) == "invalid_request"

    bad_name = upload(client, "bad name!", "a.txt", b"Some valid text for a collection with a bad name.")
    assert bad_name.status_code == 422
    assert error_code(bad_name) == "invalid_request"


def poll(client: httpx.Client, document_id: str, timeout: float = 60) -> dict[str, Any]:
    """What a client does after a 202: GET the document until it is indexed or failed."""
    deadline = time.monotonic() + timeout
    while True:
        got = client.get(f"/v1/documents/{document_id}")
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        if body["status"] in ("indexed", "failed"):
            return body
        assert body["status"] in ("queued", "parsing", "embedding")
        assert 0 <= body["progress"] <= 1
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def test_upload_is_accepted_at_once_then_indexed_in_the_background(client: httpx.Client) -> None:
    data = b"# Barn owls\n\nBarn owls hunt voles at dusk over the Millbrook meadow.\n"
    accepted = upload(client, "background", "owls.md", data, wait=False)
    assert accepted.status_code == 202, accepted.text
    queued = accepted.json()
    assert queued["status"] == "queued" and queued["progress"] == 0 and queued["chunk_count"] == 0
    assert queued["error_code"] is None and queued["duplicate"] is False

    done = poll(client, queued["id"])
    assert done["status"] == "indexed" and done["progress"] == 1 and done["chunk_count"] > 0
    assert done["title"] == "Barn owls" and done["error_code"] is None and done["error_message"] is None
    hits = client.post("/v1/search", json={"query": "Millbrook voles", "collections": ["background"]}).json()
    assert hits["hits"][0]["document_id"] == queued["id"]

    again = upload(client, "background", "copy.md", data, wait=False)
    assert again.status_code == 200
    assert again.json() == {**done, "duplicate": True}


def test_failed_ingestion_shows_its_typed_error(client: httpx.Client) -> None:
    # Bytes that look like HTML but hold no text: refused by the worker, not at upload.
    data = b"<html><body><script>var owl = 1;</script></body></html>"
    accepted = upload(client, "background", "script.html", data, wait=False)
    assert accepted.status_code == 202, accepted.text
    failed = poll(client, accepted.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "no_text_found" and "no text" in failed["error_message"]
    assert failed["chunk_count"] == 0

    # Uploading it again queues the failed document again; waiting answers with its error.
    waited = upload(client, "background", "again.html", data)
    assert waited.status_code == 422
    assert error_code(waited) == "no_text_found"
    listed = client.get("/v1/collections/background/documents").json()
    assert [d["status"] for d in listed if d["id"] == failed["id"]] == ["failed"]


def test_upload_over_the_limit_is_refused(runtime: Runtime, settings: Settings, admin_key: str) -> None:
    # The upload route reads the limit from the runtime's settings: the app gets a runtime whose
    # settings carry a tiny limit (same store, model and indexes as the module's).
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    app = create_app(small, runtime=dataclasses.replace(runtime, settings=small))
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60) as c,
    ):
        big = upload(c, "limits", "big.txt", b"Too many words in this file. " * 50)
        assert big.status_code == 413
        assert error_code(big) == "file_too_large"
        assert "1000" in big.json()["error"]["message"]

        # Just under the limit passes the check (these bytes are already stored: a duplicate).
        assert len(TEXT) < 1000
        fits = upload(c, KB, "bread.txt", TEXT)
        assert fits.status_code in (200, 201), fits.text
    # The size check comes before anything is stored.
    assert "limits" not in [c.name for c in runtime.store.list_collections(runtime.default_tenant)]


def test_not_found_and_malformed_requests(client: httpx.Client) -> None:
    unknown = client.get(f"/v1/documents/{uuid4()}")
    assert unknown.status_code == 404
    assert error_code(unknown) == "document_not_found"

    malformed = client.get("/v1/documents/not-a-uuid")
    assert malformed.status_code == 422
    assert error_code(malformed) == "invalid_request"

    delete_unknown = client.delete(f"/v1/documents/{uuid4()}")
    assert delete_unknown.status_code == 404
    assert error_code(delete_unknown) == "document_not_found"

    route = client.get("/v1/no-such-route")
    assert route.status_code == 404
    assert route.headers["content-type"].startswith("application/json")
    assert error_code(route) == "not_found"

    method = client.put("/v1/search", json={})
    assert method.status_code == 405
    assert error_code(method) == "method_not_allowed"

    missing = client.post("/v1/search", json={"query": "anything", "collections": ["no-such-collection"]})
    assert missing.status_code == 404
    assert error_code(missing) == "collection_not_found"

    empty_query = client.post("/v1/search", json={"query": "", "collections": [KB]})
    assert empty_query.status_code == 422
    assert error_code(empty_query) == "invalid_request"

    not_json = client.post("/v1/ask", content=b"not json", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert error_code(not_json) == "invalid_request"


# -- search and ask ------------------------------------------------------------------------


def test_search_finds_the_right_passages(
    client: httpx.Client, runtime: Runtime, docs: dict[str, dict[str, Any]]
) -> None:
    response = client.post(
        "/v1/search",
        json={"query": "How often is the Brightwater lighthouse lamp replaced?", "collections": [KB]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "How often is the Brightwater lighthouse lamp replaced?"
    top = body["hits"][0]
    assert top["document_id"] == docs["md"]["id"]
    assert top["document_title"] == "Lighthouse Handbook"
    assert "Brightwater" in top["text"]
    assert top["heading_path"][:2] == ["Lighthouse Handbook", "Lamp replacement"]
    assert top["page_start"] is None
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)

    pdf = client.post("/v1/search", json={"query": "Zephyrine glacier", "collections": [KB], "limit": 3})
    hits = pdf.json()["hits"]
    assert 1 <= len(hits) <= 3
    assert hits[0]["document_id"] == docs["pdf"]["id"]
    assert "Zephyrine" in hits[0]["text"]
    assert hits[0]["page_start"] in (1, 2)
    assert hits[0]["page_end"] == 2

    # Every hit's text is the stored document text at its offsets.
    for hit in body["hits"] + hits:
        text, _ = stored_text(runtime, runtime.default_tenant, hit["document_id"])
        assert text[hit["start"] : hit["end"]] == hit["text"]


def test_ask_answers_with_verifiable_citations(
    client: httpx.Client, runtime: Runtime, docs: dict[str, dict[str, Any]]
) -> None:
    question = "How far does the Zephyrine glacier move every year?"
    response = client.post("/v1/ask", json={"question": question, "collections": [KB]})
    assert response.status_code == 200
    answer = response.json()
    assert answer["question"] == question
    assert answer["answered"] is True
    assert answer["reason"] is None
    assert "forty meters" in answer["answer"]
    assert answer["sentences"]
    assert answer["passages"]

    pdf_citations = []
    for sentence in answer["sentences"]:
        assert sentence["citations"], sentence
        assert sentence["text"] in answer["answer"]
        for citation in sentence["citations"]:
            text, page_starts = stored_text(runtime, runtime.default_tenant, citation["document_id"])
            assert text[citation["start"] : citation["end"]] == citation["quote"]
            assert citation["quote"].strip()
            if citation["document_id"] == docs["pdf"]["id"]:
                pdf_citations.append((citation, page_starts))
    glacier = [c for c, _ in pdf_citations if "forty meters" in c["quote"]]
    assert glacier, answer
    assert glacier[0]["page"] == 2
    _, page_starts = pdf_citations[0]
    assert len(page_starts) == 2
    assert glacier[0]["start"] >= page_starts[1]


def test_ask_cites_headings_of_the_markdown_section(
    client: httpx.Client, runtime: Runtime, docs: dict[str, dict[str, Any]]
) -> None:
    answer = client.post(
        "/v1/ask", json={"question": "How often does the fog horn sound?", "collections": [KB]}
    ).json()
    assert answer["answered"] is True
    cited = [c for s in answer["sentences"] for c in s["citations"]]
    fog = [c for c in cited if "fog horn" in c["quote"]]
    assert fog, answer
    assert fog[0]["document_id"] == docs["md"]["id"]
    assert fog[0]["page"] is None
    text, _ = stored_text(runtime, runtime.default_tenant, docs["md"]["id"])
    assert text[fog[0]["start"] : fog[0]["end"]] == fog[0]["quote"]


def test_ask_abstains_when_the_documents_do_not_answer(client: httpx.Client, docs: dict[str, Any]) -> None:
    answer = client.post(
        "/v1/ask", json={"question": "Who won the 1998 football world cup?", "collections": [KB]}
    ).json()
    assert answer["answered"] is False
    assert answer["sentences"] == []
    assert answer["reason"] == "no_supporting_passage"
    assert "don't know" in answer["answer"]
    assert answer["passages"]
    ours = {d["id"] for d in docs.values()}
    assert all(p["document_id"] in ours for p in answer["passages"])


# -- tenants -------------------------------------------------------------------------------


def test_tenants_are_isolated(
    client: httpx.Client,
    other: httpx.Client,
    runtime: Runtime,
    other_tenant: UUID,
    docs: dict[str, dict[str, Any]],
) -> None:
    assert other.get("/v1/collections").json() == []
    hidden = other.get(f"/v1/collections/{KB}")
    assert hidden.status_code == 404
    assert error_code(hidden) == "collection_not_found"
    assert other.post("/v1/search", json={"query": "Zephyrine", "collections": [KB]}).status_code == 404

    pdf_id = docs["pdf"]["id"]
    peek = other.get(f"/v1/documents/{pdf_id}")
    assert peek.status_code == 404
    assert error_code(peek) == "document_not_found"
    steal = other.delete(f"/v1/documents/{pdf_id}")
    assert steal.status_code == 404
    assert error_code(steal) == "document_not_found"
    assert client.get(f"/v1/documents/{pdf_id}").status_code == 200
    assert runtime.store.count_chunks(runtime.default_tenant, UUID(pdf_id)) == docs["pdf"]["chunk_count"]

    # A same-named collection of its own: the other tenant's searches never see tenant A's chunks.
    own = upload(
        other,
        KB,
        "glaciers.txt",
        b"Glaciers in the Alps retreat a few meters every year as summers grow warmer.\n"
        b"The Morteratsch glacier is a popular hiking destination.\n",
    )
    assert own.status_code == 201
    own_doc = own.json()
    assert own_doc["collection_id"] != docs["pdf"]["collection_id"]
    assert [c["name"] for c in other.get("/v1/collections").json()] == [KB]
    assert [d["id"] for d in other.get(f"/v1/collections/{KB}/documents").json()] == [own_doc["id"]]

    a_ids = {d["id"] for d in docs.values()}
    search = other.post("/v1/search", json={"query": "Zephyrine glacier forty meters", "collections": [KB]})
    assert search.status_code == 200
    hits = search.json()["hits"]
    assert hits, "the other tenant's own glacier document should match"
    assert all(h["document_id"] == own_doc["id"] for h in hits)
    assert not any("Zephyrine" in h["text"] for h in hits)

    ask = other.post(
        "/v1/ask",
        json={"question": "How far does the Zephyrine glacier move every year?", "collections": [KB]},
    ).json()
    cited = {c["document_id"] for s in ask["sentences"] for c in s["citations"]}
    shown = {p["document_id"] for p in ask["passages"]}
    assert not (cited | shown) & a_ids
    assert "Zephyrine" not in ask["answer"]

    # And the other way round: tenant A never sees the other tenant's document.
    back = client.post("/v1/search", json={"query": "Morteratsch glacier hiking", "collections": [KB]}).json()
    assert all(h["document_id"] in a_ids for h in back["hits"])
    assert client.get(f"/v1/documents/{own_doc['id']}").status_code == 404
    assert runtime.store.count_chunks(other_tenant) == own_doc["chunk_count"]


# -- deletion ------------------------------------------------------------------------------


def test_delete_document_removes_it_everywhere(client: httpx.Client, runtime: Runtime) -> None:
    created = upload(
        client,
        "scratch",
        "quill.md",
        b"# Quillfeather\n\nThe quillfeather owl nests only in hollow oak trees.\n",
    )
    assert created.status_code == 201
    doc_id = created.json()["id"]
    keep = upload(client, "scratch", "keep.txt", b"Hollow oak trees also shelter bats and woodpeckers.\n")
    assert keep.status_code == 201
    tenant = runtime.default_tenant
    assert runtime.store.count_chunks(tenant, UUID(doc_id)) > 0

    query = {"query": "quillfeather owl", "collections": ["scratch"]}
    before = client.post("/v1/search", json=query).json()["hits"]
    assert before[0]["document_id"] == doc_id

    assert client.delete(f"/v1/documents/{doc_id}").status_code == 204
    gone = client.get(f"/v1/documents/{doc_id}")
    assert gone.status_code == 404
    assert error_code(gone) == "document_not_found"
    assert runtime.store.count_chunks(tenant, UUID(doc_id)) == 0
    after = client.post("/v1/search", json=query).json()["hits"]
    assert all(h["document_id"] != doc_id for h in after)
    assert not any("quillfeather" in h["text"].lower() for h in after)
    assert [d["id"] for d in client.get("/v1/collections/scratch/documents").json()] == [keep.json()["id"]]
    assert client.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_delete_collection_removes_its_documents(client: httpx.Client, runtime: Runtime) -> None:
    created = upload(client, "temporary", "t.txt", b"The temporary collection holds one short note.\n")
    assert created.status_code == 201
    doc_id = created.json()["id"]
    tenant = runtime.default_tenant
    assert runtime.store.count_chunks(tenant, UUID(doc_id)) > 0

    assert client.delete("/v1/collections/temporary").status_code == 204
    assert client.get("/v1/collections/temporary").status_code == 404
    gone = client.get(f"/v1/documents/{doc_id}")
    assert gone.status_code == 404
    assert error_code(gone) == "document_not_found"
    assert runtime.store.count_chunks(tenant, UUID(doc_id)) == 0
    search = client.post("/v1/search", json={"query": "temporary note", "collections": ["temporary"]})
    assert search.status_code == 404
    assert error_code(search) == "collection_not_found"
