"""The conformance suite of the re-index protocol (``CollectionReindex``, src/docrag/store/protocol.py),
in the style of tests/support/store_conformance.py: written against fixtures only.

Fixtures a backend provides, besides that module's ``collection_store``, ``document_store``,
``chunk_search`` and ``tenants``: ``collection_reindex``, its implementation. Collections start on
``MODEL`` (``DIM`` dimensions) and are re-indexed to ``NEXT`` (``NEXT_DIM``), so that no embedding
model is involved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from uuid import UUID

import numpy as np
import pytest

from docrag.domain import Collection
from docrag.errors import Conflict, InvalidRequest
from docrag.store.protocol import ChunkSearch, CollectionReindex, CollectionStore, DocumentStore
from docrag.store.reindex import NewVectors, PendingChunk
from store_conformance import DIM, MODEL, new_document, store_document, unit

NEXT = "conformance-next-model"
NEXT_DIM = 4
EVERYTHING = 1000  # a page larger than any collection here


def next_unit(i: int) -> np.ndarray:
    """The new model's vector of chunk i: a NEXT_DIM-dimensional basis vector."""
    v = np.zeros(NEXT_DIM, dtype=np.float32)
    v[i % NEXT_DIM] = 1.0
    return v


def next_vectors(chunks: Sequence[PendingChunk], first: int = 0) -> list[NewVectors]:
    """New vectors for ``chunks``, the i-th getting ``next_unit(first + i)`` (one sentence each)."""
    return [
        NewVectors(c.id, next_unit(first + i), np.asarray([next_unit(first + i)], dtype=np.float16).tobytes())
        for i, c in enumerate(chunks)
    ]


def pending_ids(reindex: CollectionReindex, collection: Collection) -> list[int]:
    return [c.id for c in reindex.pending(collection, after=0, limit=EVERYTHING)]


def add_document(documents: DocumentStore, collection: Collection, body: str) -> None:
    """Another document in ``collection``, of one chunk embedded by its served model."""
    documents.insert_documents(collection, [new_document([body], title="Late")])


class CollectionReindexSuite:
    def test_begin_refuses_the_model_in_use(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        collection, _ = store_document(collection_store, document_store, tenants[0], ["body"])
        with pytest.raises(InvalidRequest):
            collection_reindex.begin(collection, MODEL, DIM)

    def test_pending_pages_through_the_chunks_in_id_order(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        bodies = ["Zero here.", "One here.", "Two here."]
        collection, _ = store_document(collection_store, document_store, a, bodies)
        collection_reindex.begin(collection, NEXT, NEXT_DIM)
        first = collection_reindex.pending(collection, after=0, limit=2)
        rest = collection_reindex.pending(collection, after=first[-1].id, limit=2)
        assert [c.id for c in first + rest] == chunk_search.lexical_corpus(a, collection.id).ids
        assert len(first) == 2 and len(rest) == 1
        for chunk, body in zip(first + rest, bodies, strict=True):
            assert chunk.content == f"Heading\n{body}"  # the embedded text: heading path, then body
            assert [chunk.content[s:e] for s, e in chunk.spans] == [body]
        assert collection_reindex.pending(collection, after=rest[-1].id, limit=2) == []

    def test_new_vectors_are_served_only_after_the_switch(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, _ = store_document(collection_store, document_store, a, ["zero", "one"])
        version = collection_store.content_versions(a, [collection.id])[collection.id]
        collection_reindex.begin(collection, NEXT, NEXT_DIM)
        collection_reindex.ensure_embedding_index(NEXT_DIM)
        collection_reindex.ensure_embedding_index(NEXT_DIM)  # once there, nothing to do
        pending = collection_reindex.pending(collection, after=0, limit=EVERYTHING)
        assert collection_reindex.write(collection, NEXT, next_vectors(pending))
        assert pending_ids(collection_reindex, collection) == []
        ids = [c.id for c in pending]
        # Written, not served: readers see the old model's vectors and version.
        assert collection_store.collection_by_id(a, collection.id).embedding_model == MODEL
        np.testing.assert_allclose(chunk_search.chunk_vectors(a, ids)[ids[1]].embedding, unit(1))
        assert collection_store.content_versions(a, [collection.id])[collection.id] == version
        before = chunk_search.chunk_vectors(a, ids)[ids[1]]  # a cache's key: vectors and their model
        assert before.model == MODEL
        np.testing.assert_allclose(before.embedding, unit(1))
        assert collection_reindex.switch(collection, NEXT) == 0
        switched = collection_store.collection_by_id(a, collection.id)
        assert (switched.embedding_model, switched.embedding_dim) == (NEXT, NEXT_DIM)
        assert collection_store.content_versions(a, [collection.id])[collection.id] > version
        np.testing.assert_allclose(chunk_search.chunk_vectors(a, ids)[ids[1]].embedding, next_unit(1))
        after = chunk_search.chunk_vectors(a, ids)[ids[1]]  # swapped together with the model
        assert after.model == NEXT
        np.testing.assert_allclose(after.embedding, next_unit(1))
        assert (
            chunk_search.sentence_vectors(a, [ids[1]])[ids[1]]
            == np.asarray([next_unit(1)], dtype=np.float16).tobytes()
        )
        [(found, similarity)] = chunk_search.dense_search(
            a, [collection.id], next_unit(1), limit=1, ef_search=40
        )
        assert found == ids[1] and similarity == pytest.approx(1.0)
        assert not collection_reindex.write(switched, NEXT, next_vectors(pending))  # over: none under way

    def test_switch_waits_for_every_chunk_even_those_added_meanwhile(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, _ = store_document(collection_store, document_store, a, ["zero", "one", "two"])
        collection_reindex.begin(collection, NEXT, NEXT_DIM)
        pending = collection_reindex.pending(collection, after=0, limit=EVERYTHING)
        assert collection_reindex.write(collection, NEXT, next_vectors(pending[:1]))
        assert collection_reindex.switch(collection, NEXT) == 2
        assert collection_store.collection_by_id(a, collection.id).embedding_model == MODEL  # unchanged
        assert collection_reindex.write(collection, NEXT, next_vectors(pending[1:], first=1))
        add_document(document_store, collection, "added while re-indexing")
        assert collection_reindex.switch(collection, NEXT) == 1
        [late] = collection_reindex.pending(collection, after=0, limit=EVERYTHING)
        assert late.content.endswith("added while re-indexing")
        assert collection_reindex.write(collection, NEXT, next_vectors([late], first=3))
        assert collection_reindex.switch(collection, NEXT) == 0
        assert collection_store.collection_by_id(a, collection.id).embedding_model == NEXT

    def test_begin_again_resumes_and_another_model_is_a_conflict(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        collection, _ = store_document(collection_store, document_store, tenants[0], ["zero", "one"])
        collection_reindex.begin(collection, NEXT, NEXT_DIM)
        first, second = collection_reindex.pending(collection, after=0, limit=EVERYTHING)
        assert collection_reindex.write(collection, NEXT, next_vectors([first]))
        with pytest.raises(Conflict) as caught:
            collection_reindex.begin(collection, "yet-another-model", NEXT_DIM)
        assert caught.value.code == "reindex_in_progress"
        assert not collection_reindex.write(collection, "yet-another-model", next_vectors([second]))
        collection_reindex.begin(collection, NEXT, NEXT_DIM)  # resumes: what was written stays
        assert pending_ids(collection_reindex, collection) == [second.id]

    def test_cancel_drops_the_new_vectors_and_a_fresh_start_counts_none(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, _ = store_document(collection_store, document_store, a, ["zero", "one"])
        collection_reindex.begin(collection, NEXT, NEXT_DIM)
        pending = collection_reindex.pending(collection, after=0, limit=EVERYTHING)
        assert collection_reindex.write(collection, NEXT, next_vectors(pending))
        collection_reindex.cancel(collection)
        assert not collection_reindex.write(collection, NEXT, next_vectors(pending))
        with pytest.raises(Conflict) as caught:
            collection_reindex.switch(collection, NEXT)
        assert caught.value.code == "reindex_in_progress"
        assert collection_store.collection_by_id(a, collection.id).embedding_model == MODEL
        served = chunk_search.chunk_vectors(a, [pending[0].id])[pending[0].id]
        np.testing.assert_allclose(served.embedding, unit(0))
        collection_reindex.begin(collection, "yet-another-model", NEXT_DIM)  # nothing under way now
        assert pending_ids(collection_reindex, collection) == [c.id for c in pending]

    def test_a_reindex_touches_its_own_collection_only(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        collection_reindex: CollectionReindex,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, b = tenants
        ours, _ = store_document(collection_store, document_store, a, ["ours one", "ours two"])
        other, _ = store_document(collection_store, document_store, a, ["other one"])
        for collection in (ours, other):
            collection_reindex.begin(collection, NEXT, NEXT_DIM)
        their_chunks = collection_reindex.pending(other, after=0, limit=EVERYTHING)
        assert not set(pending_ids(collection_reindex, ours)) & {c.id for c in their_chunks}
        assert collection_reindex.write(ours, NEXT, next_vectors(their_chunks))  # ids not ours
        assert pending_ids(collection_reindex, other) == [c.id for c in their_chunks]
        assert collection_reindex.switch(ours, NEXT) == 2
        collection_reindex.cancel(other)
        assert len(pending_ids(collection_reindex, ours)) == 2  # still under way
        # The same collection named with another tenant is not found there.
        forged = dataclasses.replace(ours, tenant_id=b)
        with pytest.raises(InvalidRequest):
            collection_reindex.begin(forged, NEXT, NEXT_DIM)
        assert collection_reindex.pending(forged, after=0, limit=EVERYTHING) == []
        written = collection_reindex.pending(ours, after=0, limit=EVERYTHING)
        assert not collection_reindex.write(forged, NEXT, next_vectors(written))
        with pytest.raises(Conflict):
            collection_reindex.switch(forged, NEXT)
        collection_reindex.cancel(forged)
        # Nothing written, nor cancelled, through the forged one.
        assert pending_ids(collection_reindex, ours) == [c.id for c in written]
        assert collection_reindex.write(ours, NEXT, next_vectors(written))
        assert collection_reindex.switch(ours, NEXT) == 0
        assert collection_store.collection_by_id(a, other.id).embedding_model == MODEL
