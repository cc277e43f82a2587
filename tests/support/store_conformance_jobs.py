"""The conformance suite of the ingestion queue protocol (``JobQueue``, src/docrag/store/protocol_jobs.py),
in the style of tests/support/store_conformance.py: written against fixtures only.

Fixtures a backend provides, besides that module's ``collection_store``, ``document_store`` and
``tenants``: ``job_queue``, its queue (it refuses to complete a job with vectors of a model other
than its collection's). Claims are global (any tenant's job), so
the backend's database must hold no other claimable job while the suite runs; each test ends with
nothing of its own left running or claimable (the ``claims`` fixture fails what it leaves).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from uuid import UUID

import pytest

from docrag.domain import Collection, DocumentInfo, Job
from docrag.errors import Conflict, DuplicateDocument, NotFound
from docrag.store.jobs import Enqueued
from docrag.store.protocol import CollectionStore, DocumentStore, JobQueue
from store_conformance import DIM, MODEL, indexed, unit

LEASE = 30.0


def enqueue(queue: JobQueue, collection: Collection, data: bytes, *, title: str | None = None) -> Enqueued:
    return queue.enqueue(
        collection,
        data=data,
        digest=hashlib.sha256(data).digest(),
        mime="text/plain",
        title=title or "queued.txt",
        filename="queued.txt",
        explicit_title=title,
    )


def version(queue: JobQueue, tenant: UUID, document_id: UUID, data: bytes) -> Enqueued:
    return queue.enqueue_version(
        tenant,
        document_id,
        data=data,
        digest=hashlib.sha256(data).digest(),
        mime="text/markdown",
        filename="v2.md",
        explicit_title=None,
    )


def one(queue: JobQueue, tenant: UUID, document_id: UUID) -> DocumentInfo:
    (found,) = queue.documents(tenant, [document_id])
    return found


class Claims:
    """Claims by fresh worker ids, each remembered so that the test's end can fail what it left."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue
        self.made: list[Job] = []

    def any(self, lease: float = LEASE, *, max_bytes: int | None = None) -> Job | None:
        job = self._queue.claim(f"conformance/{uuid.uuid4().hex[:8]}", lease, max_bytes=max_bytes)
        if job is not None:
            self.made.append(job)
        return job

    def group(self, count: int, group_bytes: int, *, max_bytes: int | None = None) -> list[Job]:
        jobs = self._queue.claim_group(
            f"conformance/{uuid.uuid4().hex[:8]}",
            LEASE,
            max_bytes=max_bytes,
            count=count,
            group_bytes=group_bytes,
        )
        self.made.extend(jobs)
        return jobs

    def of(self, document_id: UUID, lease: float = LEASE) -> Job:
        """The job of ``document_id`` (it must be the one claimable)."""
        job = self.any(lease)
        assert job is not None and job.document_id == document_id
        return job

    def end(self) -> None:
        for job in self.made:
            self._queue.fail(job, "internal_error", "left by a conformance test")  # False: not ours
        while (job := self.any()) is not None and len(self.made) < 1000:
            self._queue.fail(job, "internal_error", "left by a conformance test")


class QueueFixtures:
    """What every queue suite's test gets: claims ended with the test, and a fresh collection."""

    @pytest.fixture(autouse=True)
    def claims(self, job_queue: JobQueue) -> Iterator[Claims]:
        made = Claims(job_queue)
        yield made
        made.end()

    @pytest.fixture
    def collection(self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]) -> Collection:
        return collection_store.create_collection(tenants[0], f"q-{uuid.uuid4().hex[:10]}", MODEL, DIM)


class JobQueueSuite(QueueFixtures):
    def test_enqueue_stores_a_queued_document_and_one_job(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        queued = enqueue(job_queue, collection, b"alpha bytes", title="Alpha")
        doc = queued.document
        assert queued.outcome == "queued"
        assert (doc.status, doc.progress, doc.chunk_count, doc.collection_id) == (
            "queued",
            0,
            0,
            collection.id,
        )
        assert (doc.title, doc.mime, doc.size_bytes) == ("Alpha", "text/plain", len(b"alpha bytes"))
        assert one(job_queue, collection.tenant_id, doc.id) == doc
        job = claims.any()
        assert job is not None
        assert (job.document_id, job.collection_id, job.tenant_id) == (doc.id, collection.id, doc.tenant_id)
        assert (job.attempts, job.size_bytes) == (1, len(b"alpha bytes"))
        assert one(job_queue, collection.tenant_id, doc.id).status == "parsing"
        assert claims.any() is None  # claimed once
        assert job_queue.fail(job, "internal_error", "done with it")

    def test_the_same_bytes_are_queued_once_per_collection(
        self, job_queue: JobQueue, claims: Claims, collection_store: CollectionStore, collection: Collection
    ) -> None:
        first = enqueue(job_queue, collection, b"same bytes")
        again = enqueue(job_queue, collection, b"same bytes")
        assert again.outcome == "existing" and again.document.id == first.document.id
        other = collection_store.create_collection(
            collection.tenant_id, f"o-{uuid.uuid4().hex[:8]}", MODEL, DIM
        )
        elsewhere = enqueue(job_queue, other, b"same bytes")
        assert elsewhere.outcome == "queued" and elsewhere.document.id != first.document.id
        claimed = {job.document_id for job in (claims.any() for _ in range(3)) if job}
        assert claimed == {first.document.id, elsewhere.document.id}

    def test_the_worker_reads_the_upload_back(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"the uploaded bytes", title="Mine").document
        upload = job_queue.upload(claims.of(doc.id))
        assert upload is not None
        assert (upload.data, upload.filename, upload.title, upload.mime) == (
            b"the uploaded bytes",
            "queued.txt",
            "Mine",
            "text/plain",
        )

    def test_progress_then_complete_indexes_the_document(
        self, job_queue: JobQueue, claims: Claims, document_store: DocumentStore, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"to be indexed").document
        job = claims.of(doc.id)
        assert job_queue.progress(job, "embedding", 0.5)
        seen = one(job_queue, collection.tenant_id, doc.id)
        assert (seen.status, seen.progress) == ("embedding", 0.5)
        parsed, chunks = indexed(["first body", "second body"], title="Parsed")
        assert job_queue.complete(job, title="Indexed", parsed=parsed, chunks=chunks, embedded=1)
        done = one(job_queue, collection.tenant_id, doc.id)
        assert (done.status, done.progress, done.title, done.pending_version) == (
            "indexed",
            1,
            "Indexed",
            None,
        )
        assert (done.chunk_count, done.embedded_chunks) == (2, 1)
        assert document_store.count_chunks(collection.tenant_id, doc.id) == 2
        assert document_store.document_text(collection.tenant_id, doc.id)[0] == parsed.text
        assert claims.any() is None  # done: nothing left to claim

    def test_complete_refuses_a_collection_of_another_model(
        self,
        job_queue: JobQueue,
        claims: Claims,
        collection_store: CollectionStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        theirs = collection_store.create_collection(tenants[0], f"m-{uuid.uuid4().hex[:8]}", "another", DIM)
        doc = enqueue(job_queue, theirs, b"another model's").document
        job = claims.of(doc.id)
        parsed, chunks = indexed(["body"], title="Parsed")
        with pytest.raises(Conflict) as caught:
            job_queue.complete(job, title="No", parsed=parsed, chunks=chunks, model=MODEL)
        assert caught.value.code == "embedding_model_mismatch"
        assert one(job_queue, tenants[0], doc.id).status != "indexed"
        assert job_queue.fail(job, caught.value.code, caught.value.message)  # still this worker's

    def test_fail_shows_the_typed_error_and_the_same_bytes_queue_it_again(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"unreadable").document
        job = claims.of(doc.id)
        assert job_queue.fail(job, "no_text_found", "nothing to index")
        failed = one(job_queue, collection.tenant_id, doc.id)
        assert (failed.status, failed.error_code, failed.error_message) == (
            "failed",
            "no_text_found",
            "nothing to index",
        )
        assert claims.any() is None
        assert job_queue.upload(job) is None  # a failed document keeps no bytes
        again = enqueue(job_queue, collection, b"unreadable")
        assert again.outcome == "requeued" and again.document.id == doc.id
        assert (again.document.status, again.document.error_code) == ("queued", None)
        assert claims.of(doc.id).attempts == 1

    def test_retry_queues_it_again_and_counts_the_attempt(
        self, job_queue: JobQueue, claims: Claims, document_store: DocumentStore, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"flaky").document
        assert job_queue.retry(claims.of(doc.id), "unavailable: try later", 0.0)
        assert one(job_queue, collection.tenant_id, doc.id).status == "queued"
        second = claims.of(doc.id)
        assert second.attempts == 2
        assert job_queue.retry(second, "unavailable: later still", 3600.0)
        assert claims.any() is None  # not before its delay
        document_store.delete_document(collection.tenant_id, doc.id)  # nor left for the next test

    def test_hand_back_queues_it_again_with_the_attempt_refunded(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"handed back").document
        job = claims.of(doc.id)
        assert job_queue.hand_back(job)
        assert one(job_queue, collection.tenant_id, doc.id).status == "queued"
        assert claims.of(doc.id).attempts == job.attempts

    def test_an_expired_lease_passes_the_job_on_and_fences_out_its_worker(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"slow worker").document
        stale = claims.of(doc.id, lease=0.2)
        time.sleep(0.6)
        taken = claims.of(doc.id)
        assert taken.id == stale.id and taken.attempts == 2 and taken.worker_id != stale.worker_id
        parsed, chunks = indexed(["late body"], title="Parsed")
        assert not job_queue.progress(stale, "embedding", 0.9)
        assert not job_queue.complete(stale, title="Stale", parsed=parsed, chunks=chunks)
        assert not job_queue.fail(stale, "internal_error", "stale")
        assert not job_queue.retry(stale, "stale", 0.0)
        assert not job_queue.hand_back(stale)
        assert job_queue.heartbeat([stale.worker_id], LEASE) == set()
        assert one(job_queue, collection.tenant_id, doc.id).status == "parsing"  # untouched
        assert job_queue.complete(taken, title="Fresh", parsed=parsed, chunks=chunks)
        assert one(job_queue, collection.tenant_id, doc.id).title == "Fresh"

    def test_a_heartbeat_extends_the_lease(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"long parse").document
        job = claims.of(doc.id, lease=1.0)
        assert job_queue.heartbeat([job.worker_id, "conformance/idle"], LEASE) == {job.id}
        time.sleep(1.5)
        assert claims.any() is None  # past the first lease, still held
        assert job_queue.fail(job, "internal_error", "done with it")

    def test_a_claim_may_be_limited_to_small_uploads(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"x" * 100).document
        assert claims.any(max_bytes=99) is None
        job = claims.any(max_bytes=100)
        assert job is not None and job.document_id == doc.id

    def test_a_new_version_replaces_the_served_one_once_complete(
        self, job_queue: JobQueue, claims: Claims, document_store: DocumentStore, collection: Collection
    ) -> None:
        doc = enqueue(job_queue, collection, b"version one").document
        parsed, chunks = indexed(["kept body", "old body"], title="Parsed")
        assert job_queue.complete(claims.of(doc.id), title="V1", parsed=parsed, chunks=chunks)
        replacing = version(job_queue, doc.tenant_id, doc.id, b"version two")
        assert replacing.outcome == "replacing" and replacing.document.status == "queued"
        served = document_store.get_document(collection.tenant_id, doc.id)
        assert replacing.document.pending_version == served.version + 1
        assert document_store.count_chunks(collection.tenant_id, doc.id) == 2
        job = claims.of(doc.id)
        upload = job_queue.upload(job)
        assert upload is not None and (upload.data, upload.filename, upload.mime) == (
            b"version two",
            "v2.md",
            "text/markdown",
        )
        assert job_queue.previous_vectors(job, "another") == {}  # another model's vectors: none reused
        reusable = job_queue.previous_vectors(job, MODEL)
        assert {text for text, _ in reusable} == {"Heading\nkept body", "Heading\nold body"}
        assert [v.embedding for (text, _), v in reusable.items() if text.endswith("kept body")] == [unit(0)]
        parsed, chunks = indexed(["kept body", "new body", "third body"], title="Parsed")
        assert job_queue.complete(job, title="V2", parsed=parsed, chunks=chunks, embedded=2)
        now = one(job_queue, collection.tenant_id, doc.id)
        assert (now.status, now.version, now.chunk_count, now.title) == (
            "indexed",
            served.version + 1,
            3,
            "V2",
        )
        assert (
            version(job_queue, now.tenant_id, now.id, b"version two").outcome == "existing"
        )  # the served bytes

    def test_a_version_is_refused_for_another_documents_bytes_or_tenant(
        self, job_queue: JobQueue, collection: Collection, tenants: tuple[UUID, UUID]
    ) -> None:
        doc = enqueue(job_queue, collection, b"document one").document
        enqueue(job_queue, collection, b"document two")
        with pytest.raises(DuplicateDocument):
            version(job_queue, doc.tenant_id, doc.id, b"document two")
        with pytest.raises(NotFound) as caught:
            version(job_queue, tenants[1], doc.id, b"document three")
        assert caught.value.code == "document_not_found"
        after = one(job_queue, collection.tenant_id, doc.id)
        assert (after.version, after.pending_version) == (doc.version, doc.pending_version)  # unchanged

    def test_another_tenants_documents_are_not_listed(
        self, job_queue: JobQueue, collection: Collection, tenants: tuple[UUID, UUID]
    ) -> None:
        doc = enqueue(job_queue, collection, b"private").document
        assert job_queue.documents(tenants[1], [doc.id]) == []
        assert [d.id for d in job_queue.documents(tenants[0], [doc.id, uuid.uuid4()])] == [doc.id]

    def test_listen_wakes_on_an_enqueue(self, job_queue: JobQueue, collection: Collection) -> None:
        stop, woken = threading.Event(), threading.Event()
        listener = threading.Thread(target=job_queue.listen, args=(stop, woken.set), kwargs={"timeout": 0.2})
        listener.start()
        try:
            # The listener connects in its own time: enqueue until a wake-up comes (one is enough).
            for n in range(20):
                enqueue(job_queue, collection, f"wake up {n}".encode())
                if woken.wait(0.5):
                    break
            assert woken.is_set()
        finally:
            stop.set()
            listener.join(10)
        assert not listener.is_alive()
