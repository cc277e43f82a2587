"""Document lifecycle over the real API: new versions switch atomically and reuse unchanged
chunks' vectors, failed versions leave the served one, deletes are final even for searches
running at the same moment.

Workers run only inside ``worker(runtime)`` blocks, so a test can look at the service while a
version is queued and not yet indexed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from docrag.jobs.submit import wait_final
from docrag.services import Runtime
from docrag.settings import Settings
from queue_helpers import sql, worker

TOPICS = ["okapi", "narwhal", "quokka", "axolotl"]


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        pool_max_size=8,
        inprocess_worker=False,
        job_poll_seconds=0.2,
        chunk_max_tokens=96,
        chunk_target_tokens=96,
    )


def handbook(topics: list[str]) -> bytes:
    """A Markdown handbook with one section per topic, each long enough to be its own chunk."""
    sections = []
    for topic in topics:
        body = " ".join(
            f"The {topic} section states fact {n} about the {topic} and its habits." for n in range(4)
        )
        sections.append(f"## The {topic}\n\n{body}\n")
    return ("# Field handbook\n\n" + "\n".join(sections)).encode()


def upload(client: httpx.Client, collection: str, data: bytes, name: str = "handbook.md") -> dict[str, Any]:
    r = client.post(f"/v1/collections/{collection}/documents", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    return dict(r.json())


def replace(client: httpx.Client, doc_id: str, data: bytes, name: str = "handbook.md") -> httpx.Response:
    return client.put(f"/v1/documents/{doc_id}", files={"file": (name, data)})


def process(runtime: Runtime, doc_id: str) -> None:
    with worker(runtime):
        (final,) = wait_final(runtime.jobs, runtime.default_tenant, [UUID(doc_id)], timeout=120)
    assert final.final, final


def found(client: httpx.Client, collection: str, query: str, doc_id: str) -> list[dict[str, Any]]:
    r = client.post("/v1/search", json={"query": query, "collections": [collection], "limit": 20})
    assert r.status_code == 200, r.text
    return [h for h in r.json()["hits"] if h["document_id"] == doc_id and query in h["text"]]


def embeddings_by_content(database_url: str, doc_id: str) -> dict[str, str]:
    rows = sql(database_url, "SELECT content, embedding::text FROM chunks WHERE document_id = %s", doc_id)
    return {content: vector for content, vector in rows}


def test_new_version_is_served_only_once_indexed_and_reuses_unchanged_chunks(
    runtime: Runtime, client: httpx.Client, database_url: str
) -> None:
    doc = upload(client, "lifecycle", handbook(TOPICS))
    assert (doc["version"], doc["pending_version"], doc["status"]) == (0, 1, "queued")
    process(runtime, doc["id"])
    v1 = client.get(f"/v1/documents/{doc['id']}").json()
    assert (v1["version"], v1["pending_version"], v1["status"]) == (1, None, "indexed")
    assert v1["chunk_count"] >= 4 and v1["embedded_chunks"] == v1["chunk_count"]
    before = embeddings_by_content(database_url, doc["id"])

    changed = ["okapi", "narwhal", "pangolin", "axolotl"]  # the third section is rewritten
    r = replace(client, doc["id"], handbook(changed))
    assert r.status_code == 202, r.text
    pending = r.json()
    assert (pending["version"], pending["pending_version"], pending["status"]) == (1, 2, "queued")

    # Queued, not indexed: the served version answers, the new text is nowhere.
    assert found(client, "lifecycle", "quokka", doc["id"])
    assert not found(client, "lifecycle", "pangolin", doc["id"])

    process(runtime, doc["id"])
    v2 = client.get(f"/v1/documents/{doc['id']}").json()
    assert (v2["version"], v2["pending_version"], v2["status"]) == (2, None, "indexed")
    assert v2["content_hash"] != v1["content_hash"]
    hits = found(client, "lifecycle", "pangolin", doc["id"])
    assert hits and {h["document_version"] for h in hits} == {2}
    assert not found(client, "lifecycle", "quokka", doc["id"])

    # Only the rewritten section was embedded; the others kept their exact vectors.
    after = embeddings_by_content(database_url, doc["id"])
    kept = set(before) & set(after)
    assert kept and len(after) - len(kept) >= 1
    assert v2["embedded_chunks"] == len(after) - len(kept) < v2["chunk_count"]
    assert all(before[content] == after[content] for content in kept)
    assert sql(database_url, "SELECT count(*) FROM uploads WHERE document_id = %s", doc["id"]) == [(0,)]


def test_failed_version_leaves_the_served_one(runtime: Runtime, client: httpx.Client) -> None:
    doc = upload(client, "lifecycle-fail", handbook(["heron"]))
    process(runtime, doc["id"])
    r = replace(client, doc["id"], b"<html><body><script>var a = 1;</script></body></html>", "x.html")
    assert r.status_code == 202, r.text
    process(runtime, doc["id"])
    failed = client.get(f"/v1/documents/{doc['id']}").json()
    assert (failed["status"], failed["error_code"]) == ("failed", "no_text_found")
    assert (failed["version"], failed["pending_version"]) == (1, 2)
    assert found(client, "lifecycle-fail", "heron", doc["id"])

    # A later good version still becomes version 2.
    assert replace(client, doc["id"], handbook(["egret"])).status_code == 202
    process(runtime, doc["id"])
    fixed = client.get(f"/v1/documents/{doc['id']}").json()
    assert (fixed["status"], fixed["version"], fixed["pending_version"]) == ("indexed", 2, None)
    assert found(client, "lifecycle-fail", "egret", doc["id"])
    assert not found(client, "lifecycle-fail", "heron", doc["id"])


def test_replacing_with_the_same_or_another_documents_bytes(runtime: Runtime, client: httpx.Client) -> None:
    a = upload(client, "lifecycle-dup", handbook(["ibex"]), "a.md")
    b = upload(client, "lifecycle-dup", handbook(["lynx"]), "b.md")
    process(runtime, a["id"])
    process(runtime, b["id"])
    same = replace(client, a["id"], handbook(["ibex"]))
    assert same.status_code == 200 and same.json()["version"] == 1 and same.json()["pending_version"] is None
    other = replace(client, a["id"], handbook(["lynx"]))
    assert other.status_code == 409 and other.json()["error"]["code"] == "duplicate_document"
    assert client.get(f"/v1/documents/{a['id']}").json()["pending_version"] is None

    missing = replace(client, "00000000-0000-0000-0000-000000000000", handbook(["emu"]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
    empty = replace(client, a["id"], b"")
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_file"


def test_another_tenant_cannot_replace_a_document(
    runtime: Runtime, client: httpx.Client, base_url: str
) -> None:
    doc = upload(client, "lifecycle-tenant", handbook(["tapir"]))
    other_tenant = runtime.store.ensure_tenant("lifecycle-other")
    runtime.store.add_api_key(other_tenant, "intruder", "intruder-key-0123456789", "admin")
    with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer intruder-key-0123456789"}) as c:
        r = replace(c, doc["id"], handbook(["mole"]))
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found"
    assert client.get(f"/v1/documents/{doc['id']}").json()["pending_version"] == 1


class _Searcher:
    """Searches in a loop on its own thread, recording (start, end, hits) of each search."""

    def __init__(self, base_url: str, key: str, collection: str, query: str) -> None:
        self.results: list[tuple[float, float, list[dict[str, Any]]]] = []
        self._stop = threading.Event()
        self._client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        self._body = {"query": query, "collections": [collection], "limit": 20}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Searcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            r = self._client.post("/v1/search", json=self._body)
            assert r.status_code == 200, r.text
            self.results.append((start, time.monotonic(), r.json()["hits"]))


@pytest.fixture
def searcher_factory(base_url: str, admin_key: str) -> Iterator[Any]:
    yield lambda collection, query: _Searcher(base_url, admin_key, collection, query)


def test_replace_and_delete_under_concurrent_searches(
    runtime: Runtime, client: httpx.Client, searcher_factory: Any
) -> None:
    old, new = ["walrus", "gecko"], ["walrus", "gecko", "bison"]
    texts = {1: handbook(old).decode(), 2: handbook(new).decode()}
    doc = upload(client, "lifecycle-race", handbook(old))
    process(runtime, doc["id"])
    with searcher_factory("lifecycle-race", "walrus gecko bison") as searcher:
        # Replace only once a search has returned version 1, so the race really starts from it.
        deadline = time.monotonic() + 60
        while not any(h["document_version"] == 1 for _, _, hits in list(searcher.results) for h in hits):
            assert time.monotonic() < deadline, "no search returned version 1"
            time.sleep(0.05)
        assert replace(client, doc["id"], handbook(new)).status_code == 202
        process(runtime, doc["id"])
        time.sleep(0.5)
        assert client.delete(f"/v1/documents/{doc['id']}").status_code == 204
        deleted_at = time.monotonic()  # searches that start from now on began after the commit
        time.sleep(1.0)
    versions_seen = set()
    for start, _, hits in searcher.results:
        mine = [h for h in hits if h["document_id"] == doc["id"]]
        # One response never mixes versions, and each chunk's text is its version's text.
        assert len({h["document_version"] for h in mine}) <= 1
        for h in mine:
            assert h["text"] in texts[h["document_version"]]
            versions_seen.add(h["document_version"])
        if start > deleted_at:
            assert mine == []  # deleted: never returned again
    assert versions_seen == {1, 2}
    assert any(start > deleted_at for start, _, _ in searcher.results)
