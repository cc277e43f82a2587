"""The conformance suite of the queue's groups of small jobs (``JobQueue.claim_group``,
``uploads`` and ``complete_group``, src/docrag/store/protocol_jobs.py), with the fixtures and
rules of tests/support/store_conformance_jobs.py: claims are global, and each test leaves nothing
of its own running or claimable.
"""

from __future__ import annotations

import uuid
from uuid import UUID

from docrag.domain import Collection
from docrag.errors import Conflict, DuplicateDocument
from docrag.store.job_group_writes import Completion
from docrag.store.protocol import CollectionStore, DocumentStore, JobQueue
from store_conformance import DIM, MODEL, indexed
from store_conformance_jobs import Claims, QueueFixtures, enqueue, one, version


class JobGroupSuite(QueueFixtures):
    def test_a_group_is_one_tenants_small_jobs_in_queue_order(
        self, job_queue: JobQueue, claims: Claims, collection: Collection
    ) -> None:
        small = [enqueue(job_queue, collection, f"small {n}".encode()).document for n in range(3)]
        big = enqueue(job_queue, collection, b"b" * 100).document
        last = enqueue(job_queue, collection, b"small after").document
        group = claims.group(8, 50)
        assert [job.document_id for job in group] == [d.id for d in small]  # not past the large one
        assert {job.worker_id for job in group} == {group[0].worker_id}
        assert [one(job_queue, collection.tenant_id, d.id).status for d in small] == ["parsing"] * 3
        assert [job.document_id for job in claims.group(8, 50)] == [big.id]  # a large job comes alone
        assert [job.document_id for job in claims.group(8, 50)] == [last.id]
        assert claims.group(8, 50) == []

    def test_a_group_holds_at_most_count_jobs_and_one_tenant(
        self,
        job_queue: JobQueue,
        claims: Claims,
        collection_store: CollectionStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        mine = collection_store.create_collection(tenants[0], f"a-{uuid.uuid4().hex[:8]}", MODEL, DIM)
        theirs = collection_store.create_collection(tenants[1], f"b-{uuid.uuid4().hex[:8]}", MODEL, DIM)
        for n in range(3):
            enqueue(job_queue, mine, f"mine {n}".encode())
        enqueue(job_queue, theirs, b"theirs")
        # Neither tenant has a job running: the one with the oldest job goes first.
        assert [job.tenant_id for job in claims.group(2, 1000)] == [tenants[0]] * 2
        # Now the other tenant has fewer running: it comes next, with the one job it has.
        assert [job.tenant_id for job in claims.group(8, 1000)] == [tenants[1]]
        assert [job.tenant_id for job in claims.group(8, 1000)] == [tenants[0]]
        assert claims.group(8, 1000) == []

    def test_uploads_reads_the_groups_bytes_for_its_tenant_only(
        self, job_queue: JobQueue, claims: Claims, collection: Collection, tenants: tuple[UUID, UUID]
    ) -> None:
        docs = [
            enqueue(job_queue, collection, f"bytes {n}".encode(), title=f"T{n}").document for n in range(3)
        ]
        group = claims.group(8, 1000)
        assert [job.document_id for job in group] == [d.id for d in docs]
        found = job_queue.uploads(collection.tenant_id, group)
        assert {d: (u.data, u.title, u.model[:2]) for d, u in found.items()} == {
            d.id: (f"bytes {n}".encode(), f"T{n}", (MODEL, DIM)) for n, d in enumerate(docs)
        }
        assert job_queue.uploads(tenants[1], group) == {}  # another tenant's: nothing

    def test_complete_group_writes_each_job_that_is_still_ours_in_one_change(
        self,
        job_queue: JobQueue,
        claims: Claims,
        collection: Collection,
        collection_store: CollectionStore,
        document_store: DocumentStore,
    ) -> None:
        docs = [enqueue(job_queue, collection, f"doc {n}".encode()).document for n in range(3)]
        group = claims.group(8, 1000)
        assert len(group) == 3
        before = collection_store.content_versions(collection.tenant_id, [collection.id])[collection.id]
        document_store.delete_document(collection.tenant_id, docs[1].id)  # its job goes with it
        completions = []
        for n, job in enumerate(group):
            parsed, chunks = indexed([f"body {n}", f"more {n}"], title=f"P{n}")
            completions.append(Completion(job, f"Indexed {n}", parsed, chunks, 2, MODEL))
        assert job_queue.complete_group(collection.tenant_id, completions) == [True, False, True]
        for n in (0, 2):
            done = one(job_queue, collection.tenant_id, docs[n].id)
            assert (done.status, done.title, done.chunk_count) == ("indexed", f"Indexed {n}", 2)
            assert document_store.count_chunks(collection.tenant_id, docs[n].id) == 2
        after = collection_store.content_versions(collection.tenant_id, [collection.id])[collection.id]
        assert after > before
        assert claims.group(8, 1000) == []  # done, or gone with its document

    def test_what_one_job_cant_write_leaves_the_others_written(
        self,
        job_queue: JobQueue,
        claims: Claims,
        collection: Collection,
        collection_store: CollectionStore,
        document_store: DocumentStore,
    ) -> None:
        served = enqueue(job_queue, collection, b"served one").document
        (job,) = claims.group(8, 1000)
        parsed, chunks = indexed(["served body"], title="Served")
        assert job_queue.complete_group(
            collection.tenant_id, [Completion(job, "S", parsed, chunks, 1, MODEL)]
        ) == [True]
        # Its new version's bytes become another document's while it is queued: its write must fail.
        version(job_queue, collection.tenant_id, served.id, b"contested")
        other = enqueue(job_queue, collection, b"contested").document
        fine = enqueue(job_queue, collection, b"fine one").document
        group = claims.group(8, 1000)
        assert [j.document_id for j in group] == [served.id, other.id, fine.id]
        parts = [indexed([f"body {n}"], title=f"P{n}") for n in range(3)]
        completions = [Completion(j, f"T{n}", *parts[n], 1, MODEL) for n, j in enumerate(group)]
        # The other document is written first, so the version's bytes are taken when it comes.
        first = job_queue.complete_group(collection.tenant_id, [completions[1]])
        assert first == [True]
        results = job_queue.complete_group(collection.tenant_id, [completions[0], completions[2]])
        assert isinstance(results[0], DuplicateDocument) and results[1] is True
        assert one(job_queue, collection.tenant_id, fine.id).status == "indexed"
        assert document_store.count_chunks(collection.tenant_id, served.id) == 1  # the served version stays
        assert job_queue.fail(group[0], results[0].code, results[0].message)  # still this worker's

    def test_complete_group_refuses_only_the_chunks_of_another_model(
        self,
        job_queue: JobQueue,
        claims: Claims,
        collection_store: CollectionStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        ours = collection_store.create_collection(tenants[0], f"o-{uuid.uuid4().hex[:8]}", MODEL, DIM)
        theirs = collection_store.create_collection(tenants[0], f"t-{uuid.uuid4().hex[:8]}", "another", DIM)
        mine = enqueue(job_queue, ours, b"our model's").document
        other = enqueue(job_queue, theirs, b"another model's").document
        group = claims.group(8, 1000)
        assert [j.document_id for j in group] == [mine.id, other.id]
        parsed, chunks = indexed(["body"], title="P")
        results = job_queue.complete_group(
            tenants[0], [Completion(j, "T", parsed, chunks, 1, MODEL) for j in group]
        )
        assert results[0] is True
        assert isinstance(results[1], Conflict) and results[1].code == "embedding_model_mismatch"
        assert one(job_queue, tenants[0], other.id).status != "indexed"
        assert job_queue.fail(group[1], results[1].code, results[1].message)  # still this worker's
