"""The ingestion queue in-process: workers, progress, permanent and transient failures, leases.

Real PostgreSQL, the real model; workers run as threads of this process (the process-level
crash and signal tests are in test_worker_processes.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from uuid import UUID

import psycopg
import pytest

from docrag.domain import Collection, DocumentInfo
from docrag.ingest.pipeline import Upload
from docrag.jobs.runner import JobOutcome, JobRunner, retry_delay
from docrag.jobs.submit import submit, wait_final
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.jobs import JobStore
from docrag.store.migrate import available, migrate
from docrag.store.postgres import Store
from queue_helpers import sql, worker

STAGES = ["queued", "parsing", "embedding", "indexed"]


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        pool_max_size=8,
        job_poll_seconds=0.2,
        job_lease_seconds=30,
        job_retry_base_seconds=0.2,
        embed_batch_size=2,
    )


def note(word: str, sentences: int = 3) -> bytes:
    body = " ".join(
        f"The {word} entry number {n} records a distinct fact about {word}." for n in range(sentences)
    )
    return f"# Notes on {word}\n\n{body}\n".encode()


def enqueue(runtime: Runtime, collection: Collection, data: bytes, name: str = "n.md") -> DocumentInfo:
    return submit(runtime.jobs, runtime.ingestor, collection, Upload(data, name)).document


def chunk_ords(database_url: str, document_id: UUID) -> list[int]:
    return [
        r[0]
        for r in sql(database_url, "SELECT ord FROM chunks WHERE document_id = %s ORDER BY ord", document_id)
    ]


def test_queued_documents_are_indexed_by_a_worker(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "queued", create=True)
    version = runtime.store.content_versions(coll.tenant_id, [coll.id])[coll.id]
    docs = [enqueue(runtime, coll, note(word, 40)) for word in ("heron", "otter", "badger")]
    assert all(d.status == "queued" and d.progress == 0 and d.chunk_count == 0 for d in docs)
    assert sql(
        database_url, "SELECT count(*) FROM uploads WHERE document_id = ANY(%s)", [d.id for d in docs]
    ) == [(3,)]
    # Queued documents are not searchable: their chunks don't exist yet.
    assert runtime.retriever.search(coll.tenant_id, [coll.id], "heron entry", limit=5) == []

    seen: list[tuple[str, float]] = []
    stop = threading.Event()

    def watch() -> None:  # what a client polling GET /v1/documents/{id} sees
        while not stop.is_set():
            doc = runtime.store.get_document(coll.tenant_id, docs[0].id)
            if not seen or seen[-1] != (doc.status, doc.progress):
                seen.append((doc.status, doc.progress))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with worker(runtime):
            final = wait_final(runtime.jobs, coll.tenant_id, [d.id for d in docs], timeout=120)
    finally:
        stop.set()
        watcher.join()
    assert [d.status for d in final] == ["indexed"] * 3
    for doc in final:
        assert doc.progress == 1 and doc.chunk_count > 1 and doc.title.startswith("Notes on")
        assert chunk_ords(database_url, doc.id) == list(range(doc.chunk_count))
    # Stages only move forward, and embedding progress only grows.
    stages = [STAGES.index(status) for status, _ in seen]
    assert stages == sorted(stages) and seen[-1] == ("indexed", 1.0), seen
    embedding = [p for status, p in seen if status == "embedding"]
    assert embedding == sorted(embedding), seen
    assert sql(
        database_url,
        "SELECT DISTINCT state, attempts FROM jobs WHERE document_id = ANY(%s)",
        [d.id for d in docs],
    ) == [("done", 1)]
    assert sql(
        database_url, "SELECT count(*) FROM uploads WHERE document_id = ANY(%s)", [d.id for d in docs]
    ) == [(0,)]
    # Once per final write: the three small uploads may have been written as one group.
    assert version < runtime.store.content_versions(coll.tenant_id, [coll.id])[coll.id] <= version + 3
    hits = runtime.retriever.search(coll.tenant_id, [coll.id], "heron entry", limit=5)
    assert hits and hits[0].document_id == docs[0].id


def test_concurrent_workers_claim_each_job_once(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "concurrent", create=True)
    ids = [enqueue(runtime, coll, note(f"gannet{n}")).id for n in range(10)]
    workers = [runtime.worker(concurrency=2) for _ in range(2)]  # two "processes", two threads each
    for w in workers:
        w.start()
    try:
        final = wait_final(runtime.jobs, coll.tenant_id, ids, timeout=120)
    finally:
        for w in workers:
            w.stop()
        assert all(w.join(60) for w in workers)
    assert {d.status for d in final} == {"indexed"}
    assert sql(
        database_url, "SELECT DISTINCT state, attempts FROM jobs WHERE document_id = ANY(%s)", ids
    ) == [("done", 1)]
    assert sum(sum(w.outcomes.values()) for w in workers) == len(ids)
    for doc in final:
        assert chunk_ords(database_url, doc.id) == list(range(doc.chunk_count))


def test_embedding_reports_progress_per_batch(runtime: Runtime) -> None:
    _, drafts = runtime.ingestor.prepare(note("lynx", 60), "lynx.md")
    assert len(drafts) >= 3
    calls: list[tuple[int, int]] = []
    chunks, embedded = runtime.ingestor.embed(drafts, lambda done, total: calls.append((done, total)))
    assert len(chunks) == embedded == len(drafts)
    assert calls == [(min(n, len(drafts)), len(drafts)) for n in range(2, len(drafts) + 2, 2)]


def test_search_hides_chunks_of_documents_not_indexed(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "hidden", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(note("walrus"), "w.md"))
    hits = runtime.retriever.search(coll.tenant_id, [coll.id], "walrus entry", limit=5)
    assert hits and {h.document_id for h in hits} == {doc.id}
    # Defence in depth: chunks present but no version of the document served never come back.
    sql(database_url, "UPDATE documents SET version = 0, pending_version = 1 WHERE id = %s", doc.id)
    try:
        assert runtime.store.hits(coll.tenant_id, [coll.id], [(h.chunk_id, h.score) for h in hits]) == []
    finally:
        sql(database_url, "UPDATE documents SET version = 1, pending_version = NULL WHERE id = %s", doc.id)
    assert runtime.store.hits(coll.tenant_id, [coll.id], [(hits[0].chunk_id, 1.0)])


def test_permanent_failure_fails_at_once_with_its_code(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "failing", create=True)
    doc = enqueue(runtime, coll, b"<html><body><script>var a = 1;</script></body></html>", "empty.html")
    with worker(runtime):
        (final,) = wait_final(runtime.jobs, coll.tenant_id, [doc.id], timeout=60)
    assert final.status == "failed"
    assert final.error_code == "no_text_found"
    assert final.error_message and "no text" in final.error_message
    assert runtime.store.count_chunks(coll.tenant_id, doc.id) == 0
    assert sql(
        database_url, "SELECT state, attempts, last_error FROM jobs WHERE document_id = %s", doc.id
    ) == [("failed", 1, f"no_text_found: {final.error_message}")]
    assert sql(database_url, "SELECT count(*) FROM uploads WHERE document_id = %s", doc.id) == [(0,)]

    # The same bytes again: the failed document is queued again (and fails again), not duplicated.
    again = submit(
        runtime.jobs, runtime.ingestor, coll, Upload(b"<html><body><script>var a = 1;</script></body></html>")
    )
    assert again.outcome == "requeued" and again.document.id == doc.id
    assert again.document.status == "queued" and again.document.error_code is None
    assert sql(database_url, "SELECT state, attempts FROM jobs WHERE document_id = %s", doc.id) == [
        ("queued", 0)
    ]
    with worker(runtime):
        (final,) = wait_final(runtime.jobs, coll.tenant_id, [doc.id], timeout=60)
    assert final.status == "failed" and final.error_code == "no_text_found"
    assert len(runtime.store.list_documents(coll.tenant_id, coll.id)) == 1


def test_expired_lease_is_taken_over_and_the_late_worker_is_fenced_out(
    runtime: Runtime, settings: Settings, database_url: str
) -> None:
    coll = runtime.collection(runtime.default_tenant, "leases", create=True)
    doc = enqueue(runtime, coll, note("ibis", 8))
    jobs, runner = runtime.jobs, JobRunner(runtime.jobs, runtime.ingestor, settings)
    job_a = jobs.claim("worker-a", lease_seconds=1.0)
    assert job_a is not None and job_a.document_id == doc.id and job_a.attempts == 1
    assert jobs.claim("worker-b", lease_seconds=30) is None  # leased to A
    # A computes everything but stalls past its lease before the final write.
    parsed, drafts = runtime.ingestor.prepare(note("ibis", 8), "n.md")
    chunks, _ = runtime.ingestor.embed(drafts)
    time.sleep(1.2)
    job_b = jobs.claim("worker-b", lease_seconds=30)
    assert job_b is not None and job_b.id == job_a.id and job_b.attempts == 2
    assert runner.run(job_b) is JobOutcome.DONE
    # A's late writes are all rejected by the fence: nothing is written twice.
    assert not jobs.complete(job_a, title="late", parsed=parsed, chunks=chunks)
    assert not jobs.progress(job_a, "embedding", 0.5)
    assert not jobs.fail(job_a, "internal_error", "late")
    assert not jobs.hand_back(job_a)
    final = runtime.store.get_document(coll.tenant_id, doc.id)
    assert final.status == "indexed" and final.title == "Notes on ibis"
    assert chunk_ords(database_url, doc.id) == list(range(final.chunk_count))
    assert sql(
        database_url, "SELECT state, attempts, worker_id FROM jobs WHERE document_id = %s", doc.id
    ) == [("done", 2, "worker-b")]


def test_a_job_abandoned_more_often_than_allowed_fails(runtime: Runtime, settings: Settings) -> None:
    coll = runtime.collection(runtime.default_tenant, "poison", create=True)
    doc = submit(
        JobStore(runtime.store, sealer=runtime.jobs.sealer, max_attempts=1),
        runtime.ingestor,
        coll,
        Upload(note("kiwi")),
    ).document
    first = runtime.jobs.claim("crashed", lease_seconds=0.3)
    assert first is not None and first.document_id == doc.id
    time.sleep(0.5)  # its worker "died": the lease runs out
    second = runtime.jobs.claim("next", lease_seconds=30)
    assert second is not None and second.attempts == 2
    assert JobRunner(runtime.jobs, runtime.ingestor, settings).run(second) is JobOutcome.FAILED
    final = runtime.store.get_document(coll.tenant_id, doc.id)
    assert final.status == "failed" and final.error_code == "internal_error"
    assert final.error_message and "abandoned 1 times" in final.error_message


def test_lost_database_connection_is_retried_with_backoff(
    runtime: Runtime, settings: Settings, database_url: str
) -> None:
    """A real transient error: the worker's database connection is killed mid-job."""
    coll = runtime.collection(runtime.default_tenant, "transient", create=True)
    name = "docrag-transient-test"
    url = psycopg.conninfo.make_conninfo(database_url, application_name=name)
    store = Store(url, min_size=1, max_size=1)  # one connection: the one that gets killed
    try:
        for max_attempts, expected in ((2, "indexed"), (1, "failed")):
            jobs = JobStore(store, sealer=runtime.jobs.sealer, max_attempts=max_attempts)
            doc = submit(jobs, runtime.ingestor, coll, Upload(note(f"tern{max_attempts}"))).document
            runner = JobRunner(jobs, runtime.ingestor, settings)
            job = jobs.claim("flaky", lease_seconds=30)
            assert job is not None and job.document_id == doc.id
            killed = sql(
                database_url,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                name,
            )
            assert killed == [(True,)]
            outcome = runner.run(job)
            state = sql(
                database_url,
                "SELECT state, attempts, last_error, run_after > now() FROM jobs WHERE id = %s",
                job.id,
            )
            if expected == "failed":  # no attempts left: failed with the transient error's code
                assert outcome is JobOutcome.FAILED
                final = runtime.store.get_document(coll.tenant_id, doc.id)
                assert final.status == "failed" and final.error_code == "unavailable"
                continue
            assert outcome is JobOutcome.RETRYING
            assert state[0][:2] == ("queued", 1) and state[0][2].startswith("unavailable: ")
            assert state[0][3], "the retry waits for its backoff"
            assert runtime.store.get_document(coll.tenant_id, doc.id).status == "queued"
            assert jobs.claim("flaky", lease_seconds=30) is None  # not before run_after
            time.sleep(retry_delay(1, settings.job_retry_base_seconds) + 0.1)
            job = jobs.claim("flaky", lease_seconds=30)
            assert job is not None and job.attempts == 2
            assert runner.run(job) is JobOutcome.DONE
            final = runtime.store.get_document(coll.tenant_id, doc.id)
            assert final.status == expected
            assert chunk_ords(database_url, doc.id) == list(range(final.chunk_count))
    finally:
        store.close()


def test_retry_delay_grows_exponentially_to_a_cap() -> None:
    assert [retry_delay(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(30, 2.0) == 3600.0


def test_migration_marks_documents_stored_before_it_indexed(admin_url: str) -> None:
    name = f"docrag_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        info["dbname"] = name
        with psycopg.connect(psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()})) as conn:
            first = [m for m in available() if m[0] == 1]
            conn.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(first[0][2].encode())
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (1, %s)", (first[0][1],))
            conn.execute(
                "WITH t AS (INSERT INTO tenants (name) VALUES ('t') RETURNING id),"
                " c AS (INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)"
                "  SELECT id, 'c', 'm', 384 FROM t RETURNING id, tenant_id)"
                " INSERT INTO documents"
                "  (tenant_id, collection_id, title, mime, content_hash, size_bytes, text)"
                " SELECT tenant_id, id, 'old', 'text/plain', '\\x01', 1, 'x' FROM c"
            )
            conn.commit()
            assert migrate(conn) == [v for v, _, _ in available() if v > 1]
            old = conn.execute("SELECT status, progress, error_code FROM documents").fetchall()
            assert old == [("indexed", 1.0, None)]
            defaults = conn.execute(
                "SELECT column_default FROM information_schema.columns"
                " WHERE table_name = 'documents' AND column_name IN ('status', 'progress')"
                " ORDER BY column_name"
            ).fetchall()
            assert defaults == [("0",), ("'queued'::text",)]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
