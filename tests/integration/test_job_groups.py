"""Small uploads run in groups (jobs/group_runner.py): one claim, one model call, one transaction.

Real PostgreSQL and the real model; workers run as threads of this process.
"""

from __future__ import annotations

import threading

import pytest

from docrag.domain import Collection, DocumentInfo
from docrag.ingest.pipeline import Upload
from docrag.jobs.group_runner import GroupRunner
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.jobs.submit import submit, wait_final
from docrag.jobs.worker import Worker
from docrag.services import Runtime
from docrag.settings import Settings
from queue_helpers import sql

NOTES = [
    b"# Herons\n\nHerons wade in shallow water. They strike fish with their bills.\n",
    b"# Gannets\n\nGannets dive from great heights. They fold their wings before the water.\n",
    b"# Puffins\n\nPuffins nest in burrows on cliffs. Their bills turn bright in spring.\n",
]
NO_TEXT = b"<html><body><script>var a = 1;</script></body></html>"


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, pool_max_size=8, job_poll_seconds=0.2, job_lease_seconds=30)


def _enqueue(runtime: Runtime, collection: Collection, data: bytes, name: str) -> DocumentInfo:
    return submit(runtime.jobs, runtime.ingestor, collection, Upload(data, name)).document


def _run_worker(runtime: Runtime, group_jobs: int, docs: list[DocumentInfo]) -> list[DocumentInfo]:
    runner = JobRunner(
        runtime.jobs, runtime.ingestor, runtime.settings, on_indexed=runtime.collection_changed
    )
    settings = runtime.settings.model_copy(update={"worker_group_jobs": group_jobs})
    worker = Worker(runtime.jobs, runner, settings, concurrency=1)
    worker.start()
    try:
        final = {
            d.id: d for d in wait_final(runtime.jobs, docs[0].tenant_id, [d.id for d in docs], timeout=120)
        }
        return [final[d.id] for d in docs]
    finally:
        worker.stop()
        assert worker.join(60)


def _vectors(database_url: str, document: DocumentInfo) -> list[tuple[str, str, bytes | None]]:
    rows = sql(
        database_url,
        "SELECT content, embedding::text, sentence_vectors FROM chunks WHERE document_id = %s ORDER BY ord",
        document.id,
    )
    return [
        (content, embedding, bytes(sentences) if sentences else None)
        for content, embedding, sentences in rows
    ]


def test_a_group_indexes_what_one_job_at_a_time_does_and_a_bad_upload_fails_alone(
    runtime: Runtime, database_url: str
) -> None:
    results: dict[int, tuple[list[DocumentInfo], int]] = {}
    for group_jobs in (1, 8):
        coll = runtime.collection(runtime.default_tenant, f"grouped-{group_jobs}", create=True)
        docs = [_enqueue(runtime, coll, data, f"{n}.md") for n, data in enumerate(NOTES)]
        docs.insert(1, _enqueue(runtime, coll, NO_TEXT, "empty.html"))
        version = runtime.store.content_versions(coll.tenant_id, [coll.id])[coll.id]
        final = _run_worker(runtime, group_jobs, docs)
        moved = runtime.store.content_versions(coll.tenant_id, [coll.id])[coll.id] - version
        results[group_jobs] = (final, moved)
        assert [d.status for d in final] == ["indexed", "failed", "indexed", "indexed"], (group_jobs, final)
        assert final[1].error_code == "no_text_found"
        assert sql(
            database_url, "SELECT count(*) FROM uploads WHERE document_id = ANY(%s)", [d.id for d in docs]
        ) == [(0,)]
        hits = runtime.retriever.search(
            coll.tenant_id, [coll.id], "birds that nest in burrows on cliffs", limit=3
        )
        assert hits and hits[0].document_id == docs[3].id
    alone, grouped = results[1][0], results[8][0]
    # One final write per job alone; one for the whole group (all four were claimed together).
    assert (results[1][1], results[8][1]) == (3, 1)
    for one, other in zip(alone, grouped, strict=True):
        assert (one.title, one.chunk_count, one.embedded_chunks) == (
            other.title,
            other.chunk_count,
            other.embedded_chunks,
        )
        assert _vectors(database_url, one) == _vectors(database_url, other)  # the same chunks and vectors
    assert all(d.chunk_count for d in grouped if d.status == "indexed")


def test_a_group_is_handed_back_whole_when_its_worker_stops(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "handed-back", create=True)
    docs = [_enqueue(runtime, coll, data, f"{n}.md") for n, data in enumerate(NOTES)]
    group = runtime.jobs.claim_group("groups-test/0", 30, max_bytes=None, count=8, group_bytes=16384)
    assert [job.document_id for job in group] == [d.id for d in docs]
    stop = threading.Event()
    stop.set()
    runner = JobRunner(runtime.jobs, runtime.ingestor, runtime.settings)
    assert GroupRunner(runtime.jobs, runner).run(group, stop) == [JobOutcome.HANDED_BACK] * 3
    assert sql(
        database_url,
        "SELECT DISTINCT state, attempts FROM jobs WHERE document_id = ANY(%s)",
        [d.id for d in docs],
    ) == [("queued", 0)]
    final = _run_worker(runtime, 8, docs)  # taken again, and indexed
    assert {d.status for d in final} == {"indexed"}
    assert all(len(_vectors(database_url, d)) == d.chunk_count > 0 for d in final)


def test_an_upload_that_does_not_decrypt_is_retried_alone(runtime: Runtime, database_url: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "one-unreadable", create=True)
    docs = [_enqueue(runtime, coll, data, f"{n}.md") for n, data in enumerate(NOTES)]
    # Its ciphertext altered: AES-GCM refuses it (KeyUnavailable, as a key that is not this row's).
    sql(
        database_url,
        "UPDATE uploads SET data = set_byte(data, 20, get_byte(data, 20) # 1)"
        " WHERE document_id = %s AND key_version IS NOT NULL",
        docs[1].id,
    )
    group = runtime.jobs.claim_group("groups-test/1", 30, max_bytes=None, count=8, group_bytes=16384)
    assert [job.document_id for job in group] == [d.id for d in docs]
    runner = JobRunner(runtime.jobs, runtime.ingestor, runtime.settings)
    try:
        outcomes = GroupRunner(runtime.jobs, runner).run(group)
        assert outcomes == [JobOutcome.DONE, JobOutcome.RETRYING, JobOutcome.DONE]
        states = sql(
            database_url,
            "SELECT document_id, state, last_error FROM jobs WHERE document_id = ANY(%s)",
            [d.id for d in docs],
        )
        by_doc = {doc: (state, error) for doc, state, error in states}
        assert by_doc[docs[1].id][0] == "queued" and by_doc[docs[1].id][1].startswith("key_unavailable")
        assert by_doc[docs[0].id][0] == by_doc[docs[2].id][0] == "done"
    finally:
        runtime.store.delete_document(coll.tenant_id, docs[1].id)
