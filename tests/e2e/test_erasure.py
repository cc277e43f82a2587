"""Delete means gone (issue 22.2): a canary planted in a document, asked about, rated and
quoted, is found after the delete in no response, no table row and no Redis key; the answer
records stay, marked ``source_deleted``. The same holds for a replaced version and a deleted
collection, for an answer saved while its source was being deleted, and for a purge made
while Redis was unreachable."""

from __future__ import annotations

import signal
import subprocess

import httpx
import psycopg
import pytest
import redis

from api_calls import ask, upload
from docrag.cache.tagged import RedisCache
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.roles import with_user
from erasure_checks import REDIS_URL, canary, redis_keys_holding, registry, rows_holding


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    """The conftest's least-privilege runtime, with its answer cache in the real Redis."""
    owner = {"database_owner_url": database_url} if service_role else {}
    url = with_user(database_url, service_role) if service_role else database_url
    return Settings(database_url=url, pool_max_size=8, redis_url=REDIS_URL, answer_cache_seconds=600, **owner)


def test_a_deleted_document_leaves_no_trace_but_the_emptied_answer_records(
    client: httpx.Client, runtime: Runtime, database_url: str
) -> None:
    secret, other = canary(), canary()
    assert client.post("/v1/collections", json={"name": "erasure"}).status_code in (200, 201)
    doc = upload(client, "erasure", "registry.md", registry("Ilse Varrow", secret)).json()
    kept = upload(client, "erasure", "other.md", registry("Odo Brask", other)).json()

    first = ask(client, "What is the national identity number of Ilse Varrow?", "erasure")
    assert first["answered"] and secret in first["answer"], first  # precondition: the canary was cited
    cached = ask(client, "What is the national identity number of Ilse Varrow?", "erasure")
    assert cached["answer"] == first["answer"]  # the answer cache (Redis) holds it too
    assert redis_keys_holding(secret), "the canary should be in the Redis answer cache before the delete"

    conversation = client.post("/v1/conversations", json={"title": "registry"}).json()["id"]
    question = "What is the national identity number of Ilse Varrow?"
    turn1 = ask(client, question, "erasure", conversation_id=conversation)
    turn2 = ask(client, "Where did she register?", "erasure", conversation_id=conversation)
    unrelated = ask(client, "What is the national identity number of Odo Brask?", "erasure")
    also_unrelated = ask(client, "Where did Odo Brask register?", "erasure")
    assert other in unrelated["answer"] and "Tovermark" in also_unrelated["answer"], (
        unrelated,
        also_unrelated,
    )

    comment = f"Correct, the number {secret} matches my records."
    fb = client.post(f"/v1/answers/{first['answer_id']}/feedback", json={"rating": "up", "comment": comment})
    assert fb.status_code == 201, fb.text
    # A comment on another answer that copies the canary goes too; an innocent one stays.
    quoting = client.post(
        f"/v1/answers/{unrelated['answer_id']}/feedback",
        json={"rating": "down", "comment": f"Wrong person: I wanted {secret}"},
    )
    innocent_comment = "Quick and clear, thanks."
    innocent = client.post(
        f"/v1/answers/{also_unrelated['answer_id']}/feedback",
        json={"rating": "up", "comment": innocent_comment},
    )
    assert quoting.status_code == innocent.status_code == 201
    assert rows_holding(database_url, secret)  # precondition: the scan finds the canary where it is

    assert client.delete(f"/v1/documents/{doc['id']}").status_code == 204

    # The answer records stay, emptied and marked.
    for given in (first, turn1):
        stored = client.get(f"/v1/answers/{given['answer_id']}").json()
        assert stored["source_deleted"] is True
        assert stored["answer"] == "" and stored["sentences"] == []
        assert stored["question"] == given["question"]
    untouched = client.get(f"/v1/answers/{unrelated['answer_id']}").json()
    assert untouched["source_deleted"] is False and other in untouched["answer"]

    responses = [
        client.get(f"/v1/answers/{first['answer_id']}"),
        client.get(f"/v1/answers/{turn1['answer_id']}"),
        client.get(f"/v1/answers/{turn2['answer_id']}"),
        client.get(f"/v1/answers/{unrelated['answer_id']}"),
        client.get(f"/v1/conversations/{conversation}"),
        client.get("/v1/collections/erasure/documents"),
        client.post(
            "/v1/ask",
            json={
                "question": "What is the national identity number of Ilse Varrow?",
                "collections": ["erasure"],
            },
        ),
        client.post(
            "/v1/search", json={"query": "national identity number Ilse Varrow", "collections": ["erasure"]}
        ),
        client.get("/v1/feedback/summary"),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert secret not in response.text, response.request.url
    assert rows_holding(database_url, secret) == {}
    assert redis_keys_holding(secret) == []

    # Feedback keeps its rating; only the innocent comment keeps its text.
    with psycopg.connect(database_url) as conn:
        comments = dict(conn.execute("SELECT answer_id::text, comment FROM feedback").fetchall())
    assert comments == {
        first["answer_id"]: None,
        unrelated["answer_id"]: None,
        also_unrelated["answer_id"]: innocent_comment,
    }
    assert client.get(f"/v1/documents/{kept['id']}").status_code == 200


def test_a_replaced_version_takes_the_answers_that_quote_what_only_it_held(
    client: httpx.Client, database_url: str
) -> None:
    secret = canary()
    assert client.post("/v1/collections", json={"name": "versions"}).status_code in (200, 201)
    doc = upload(client, "versions", "person.md", registry("Maren Holt", secret)).json()
    number = ask(client, "What is the national identity number of Maren Holt?", "versions")
    hours = ask(client, "When does the harbour office open?", "versions")
    assert secret in number["answer"] and "nine in the morning" in hours["answer"], (number, hours)

    corrected = registry("Maren Holt", "withheld on request").replace(b"number of", b"status of")
    r = client.put(
        f"/v1/documents/{doc['id']}",
        params={"wait": "true"},
        files={"file": ("person.md", corrected, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text

    redacted = client.get(f"/v1/answers/{number['answer_id']}").json()
    assert redacted["source_deleted"] is True and secret not in str(redacted)
    # Its quotes are still in the new version: that answer stands.
    still = client.get(f"/v1/answers/{hours['answer_id']}").json()
    assert still["source_deleted"] is False and still["answer"] == hours["answer"]
    assert rows_holding(database_url, secret) == {}
    assert redis_keys_holding(secret) == []


def test_a_deleted_collection_takes_its_quoted_text_with_it(client: httpx.Client, database_url: str) -> None:
    secret = canary()
    assert client.post("/v1/collections", json={"name": "doomed"}).status_code in (200, 201)
    upload(client, "doomed", "a.md", registry("Piet Anker", secret))
    given = ask(client, "What is the national identity number of Piet Anker?", "doomed")
    assert secret in given["answer"], given

    assert client.delete("/v1/collections/doomed").status_code == 204
    stored = client.get(f"/v1/answers/{given['answer_id']}").json()
    assert stored["source_deleted"] is True and secret not in str(stored)
    assert rows_holding(database_url, secret) == {}
    assert redis_keys_holding(secret) == []


def test_an_answer_saved_after_its_source_was_deleted_is_saved_emptied(
    runtime: Runtime, database_url: str
) -> None:
    """The race: the answer was computed, then its document deleted, then the answer stored."""
    secret = canary()
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "race", create=True)
    from docrag.ingest.pipeline import Upload

    doc, _ = runtime.ingest_now.ingest(coll, Upload(registry("Rune Salt", secret), "race.md"))
    answer = runtime.answerer.ask(tenant, [coll.id], "What is the national identity number of Rune Salt?")
    assert secret in answer.text
    runtime.delete_document(tenant, doc.id)

    stored = runtime.answers.save(tenant, answer, resolved_question=answer.question, collections=["race"])
    assert stored.source_deleted and stored.answer == "" and stored.sentences == ()
    assert rows_holding(database_url, secret) == {}


def test_a_purge_redis_could_not_take_is_run_once_it_answers(
    paused_redis: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, url = paused_redis
    cache = RedisCache(url, ttl_seconds=600, prefix="erasure:")
    cache.retry_after_seconds = 0.0
    cache.put("k1", b"deleted text", ["collection-a"])
    cache.put("k2", b"kept text", ["collection-b"])
    assert cache.get("k1") == b"deleted text"

    proc.send_signal(signal.SIGSTOP)  # Redis stops answering: calls time out
    try:
        assert cache.purge("collection-a") == 0
        assert cache.pending_purges == {"collection-a"}
    finally:
        proc.send_signal(signal.SIGCONT)
    assert cache.get("k2") == b"kept text"  # the first call after the outage runs the purge first
    assert cache.pending_purges == set()
    direct = redis.Redis.from_url(url)
    assert direct.get("erasure:e:k1") is None and not direct.exists("erasure:t:collection-a")
    assert direct.get("erasure:e:k2") == b"kept text"
    direct.close()
    cache.close()


def test_another_process_memory_cache_drops_answers_once_it_sees_the_collection_change(
    runtime: Runtime, database_url: str
) -> None:
    """Two runtimes with in-memory answer caches: one deletes, the other's copy of the
    deleted text goes the next time it touches the collection."""
    from contextlib import contextmanager

    from docrag.answering.cached import CachingAnswerer
    from docrag.cache.tagged import MemoryCache
    from docrag.ingest.pipeline import Upload
    from runtimes import second_runtime

    def holding(memory: MemoryCache, needle: str) -> int:  # what stays in that process's memory
        return sum(needle.encode() in value for _, value, _ in memory._entries.values())

    secret = canary()
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "two-processes", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(registry("Tove Marl", secret), "tove.md"))
    with contextmanager(second_runtime)(database_url) as other:  # its own pool and memory cache
        answerer = other.answerer
        assert isinstance(answerer, CachingAnswerer) and isinstance(answerer.cache, MemoryCache)
        given = answerer.ask(tenant, [coll.id], "What is the identity number of Tove Marl?")
        assert secret in given.text and holding(answerer.cache, secret) == 1
        runtime.delete_document(tenant, doc.id)  # this process deletes; the other isn't told
        answerer.ask(tenant, [coll.id], "When does the harbour office open?")
        assert holding(answerer.cache, secret) == 0
