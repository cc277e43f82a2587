"""PII redaction per collection (issue 21.2, docs/pii.md): the detectors on handwritten positives
and tricky negatives; through the live API, a redacting collection's chunks, searches, answers
and citations carry placeholders, its original is kept encrypted or dropped by setting, and
the JSON log of the whole flow holds none of the raw values."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from docrag.domain import BlockKind, DocumentBuilder
from docrag.ingest.redaction import redact_document
from docrag.observability.logs import RequestContext, formatter
from docrag.services import Runtime, new_api_key
from docrag.text.pii import PiiType, find_pii, redact
from queue_helpers import sql

EMAIL, PHONE, CARD = "zara.quill@example.com", "+44 20 7946 0958", "4111 1111 1111 1111"
IBAN, SSN, NINO = "DE89 3704 0044 0532 0130 00", "536-22-8714", "AB 12 34 56 C"
RAW = (EMAIL, PHONE, CARD, IBAN, SSN, NINO, "4111111111111111", "DE89370400440532013000")
FILE = f"""# Customer file of Zara Quill

Zara Quill writes from {EMAIL} and answers the phone at {PHONE}.

Her card {CARD} paid the yearly fee. Refunds go to the account {IBAN}.

Her SSN is {SSN} and her National Insurance number is {NINO}.

Order 48213377 shipped on 2024-03-15 with manual ISBN 978-3-16-148410-0 for release v2.14.3.
"""


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"mail {EMAIL} now", PiiType.EMAIL),
        ("write to o'brien+tax@mail.example.ie today", PiiType.EMAIL),
        (f"call {PHONE}", PiiType.PHONE),
        ("US office: (415) 555-2671.", PiiType.PHONE),
        ("phone 4155552671", PiiType.PHONE),  # a bare run of digits after a cue word
        (f"card {CARD}", PiiType.CARD),
        ("amex 378282246310005 on file", PiiType.CARD),
        (f"IBAN {IBAN}", PiiType.IBAN),
        ("pay GB82WEST12345698765432 by Friday", PiiType.IBAN),
        (f"SSN {SSN}", PiiType.NATIONAL_ID),
        (f"NI {NINO}", PiiType.NATIONAL_ID),
        ("NI number QQ123456C is a placeholder value, but CE123456D is valid", PiiType.NATIONAL_ID),
    ],
)
def test_each_kind_is_found_with_its_type(text: str, kind: PiiType) -> None:
    found = find_pii(text)
    assert [f.type for f in found] == [kind], (text, found)
    assert kind.placeholder in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "Order #4886749448 shipped on 2024-03-15.",  # a bare 10-digit run: no phone cue
        "Invoice 553321 is due 15/03/2024 at 10:30.",
        "ISBN 978-3-16-148410-0 and ISBN 978-0-306-40615-7.",
        "Card 4111 1111 1111 1112 failed its check digit.",  # Luhn fails
        "IBAN DE88 3704 0044 0532 0130 00 has wrong check digits.",  # mod 97 fails
        "SSN 666-12-3456, 000-12-3456, 923-45-6789 and 123-00-4567 are never issued.",
        "NI numbers never start with QQ123456C, GB123456A, or end in E: AB123456E.",
        "Release v2.14.3 (build 10.0.19045.2965) on 10.0.12.7.",
        "Write to support at example dot com, or @docrag on the forum.",
    ],
)
def test_tricky_negatives_are_left_alone(text: str) -> None:
    assert find_pii(text) == [], text


def test_a_redacted_document_keeps_its_offsets_consistent() -> None:
    builder = DocumentBuilder("text/markdown")
    builder.add(BlockKind.HEADING, f"Contact {EMAIL}", level=1)
    builder.add(BlockKind.PARAGRAPH, f"Phone {PHONE}, card {CARD}.")
    builder.add(BlockKind.PARAGRAPH, "Nothing personal here.")
    parsed = redact_document(builder.build())
    assert parsed.title == "Contact [EMAIL]"
    assert [parsed.text[b.start : b.end] for b in parsed.blocks] == [
        "Contact [EMAIL]",
        "Phone [PHONE], card [CARD].",
        "Nothing personal here.",
    ]
    assert parsed.blocks[1].heading_path == ("Contact [EMAIL]",)
    assert not any(raw in parsed.text for raw in RAW)


@pytest.fixture(scope="module")
def reader_key(runtime: Runtime) -> str:
    key = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "pii reader", key, "reader")
    return key


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's log records as `docrag serve --log-format json` writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_the_pii_setting_is_set_by_admins_and_validated(
    client: httpx.Client, reader_key: str, base_url: str
) -> None:
    assert client.post("/v1/collections", json={"name": "pii-setting"}).status_code == 201
    assert client.get("/v1/collections/pii-setting/pii").json() == {"redact": False, "keep_original": "drop"}
    r = client.put("/v1/collections/pii-setting/pii", json={"redact": True, "keep_original": "encrypted"})
    assert r.status_code == 200 and r.json() == {"redact": True, "keep_original": "encrypted"}
    for bad in ({"redact": "yes"}, {"redact": True, "keep_original": "plain"}, {}, {"redact": True, "x": 1}):
        r = client.put("/v1/collections/pii-setting/pii", json=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (bad, r.text)
    assert client.put("/v1/collections/nowhere/pii", json={"redact": True}).status_code == 404
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {reader_key}"}) as reader:
        assert reader.get("/v1/collections/pii-setting/pii").json()["redact"] is True
        r = reader.put("/v1/collections/pii-setting/pii", json={"redact": False})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def _upload(client: httpx.Client, collection: str, name: str) -> dict[str, str]:
    r = client.post(
        f"/v1/collections/{collection}/documents",
        params={"wait": "true"},
        files={"file": (name, FILE.encode(), "text/markdown")},
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    assert body["status"] == "indexed", body
    return body


def test_a_redacting_collection_never_serves_or_logs_the_raw_values(
    client: httpx.Client, runtime: Runtime, database_url: str, json_log: io.StringIO
) -> None:
    for name, keep in (("pii-keep", "encrypted"), ("pii-drop", "drop")):
        assert client.post("/v1/collections", json={"name": name}).status_code == 201
        r = client.put(f"/v1/collections/{name}/pii", json={"redact": True, "keep_original": keep})
        assert r.status_code == 200
    assert client.post("/v1/collections", json={"name": "pii-off"}).status_code == 201
    kept = _upload(client, "pii-keep", f"zara {EMAIL}.md")
    dropped = _upload(client, "pii-drop", "zara.md")
    plain = _upload(client, "pii-off", "zara.md")

    query = "How did Zara Quill pay the yearly fee?"
    found = client.post("/v1/search", json={"query": query, "collections": ["pii-keep"]})
    answer = client.post("/v1/ask", json={"question": query, "collections": ["pii-keep"]})
    assert found.status_code == 200 and answer.status_code == 200, (found.text, answer.text)
    served = found.text + answer.text + client.get(f"/v1/documents/{kept['id']}").text
    assert not [raw for raw in RAW if raw in served], served
    assert "[CARD]" in found.text and "[CARD]" in answer.text  # the paid fee's sentence
    assert "[EMAIL]" in client.get(f"/v1/documents/{kept['id']}").json()["filename"]
    # The chunks and the document text as stored: placeholders, and the negatives left as they were.
    for doc in (kept, dropped):
        [(text,)] = sql(database_url, "SELECT text FROM documents WHERE id = %s", doc["id"])
        assert not [raw for raw in RAW if raw in text]
        assert "Order 48213377 shipped on 2024-03-15" in text and "978-3-16-148410-0" in text
        assert all(t.placeholder in text for t in PiiType)
        chunks = sql(database_url, "SELECT content FROM chunks WHERE document_id = %s", doc["id"])
        assert chunks and not [raw for (c,) in chunks for raw in RAW if raw in c]
    [(plain_text,)] = sql(database_url, "SELECT text FROM documents WHERE id = %s", plain["id"])
    assert all(raw in plain_text for raw in RAW[:6])  # without the setting: indexed as it came

    # The original: kept encrypted, or dropped, by setting.
    assert sql(database_url, "SELECT count(*) FROM originals WHERE document_id = %s", dropped["id"]) == [(0,)]
    assert sql(database_url, "SELECT count(*) FROM originals WHERE document_id = %s", plain["id"]) == [(0,)]
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute("SELECT * FROM originals WHERE document_id = %s", (kept["id"],)).fetchone()
        assert row is not None and EMAIL.encode() not in bytes(row["data"])
        data = runtime.jobs.sealer.open(
            conn, row["tenant_id"], row["document_id"], bytes(row["data"]), row["key_version"]
        )
    assert data == FILE.encode()

    # Logs: the flow above, a 404 naming a value, and an error whose message quotes values.
    assert client.get(f"/v1/collections/{EMAIL}/documents").status_code == 404
    try:
        raise ValueError(f"could not bill {CARD} for {EMAIL}")
    except ValueError:
        logging.getLogger("docrag.test").exception("billing %s failed", EMAIL)
    log = json_log.getvalue()
    assert '"route"' in log and "[EMAIL]" in log and "[CARD]" in log  # the log was written
    assert not [raw for raw in RAW if raw in log], log
