"""Conformance suites for the store protocols (src/docrag/store/protocol.py), after Haystack's
DocumentStore test mixins: a backend's test module subclasses each suite and provides its
fixtures; every test here then runs against it (tests/integration/test_store_conformance.py: PostgreSQL).

Fixtures a backend provides:
  ``collection_store``, ``document_store``, ``chunk_search``, ``key_lookup``: its implementations
  (one object may be all four); ``tenants``: two fresh tenant ids, each test's own;
  ``issued_key``: (an API key's secret, its tenant id) for a live key.
Vectors are ``DIM``-dimensional, so that no embedding model is involved.
"""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import numpy as np
import pytest

from docrag.domain import (
    Block,
    BlockKind,
    ChunkDraft,
    Collection,
    DocumentInfo,
    NewDocument,
    ParsedDocument,
    Sentence,
    StoredChunk,
)
from docrag.errors import Conflict, NotFound
from docrag.store.protocol import ChunkSearch, CollectionStore, DocumentStore, KeyLookup

DIM = 8
MODEL = "conformance-model"


def unit(i: int) -> list[float]:
    """The i-th basis vector of DIM dimensions: one chunk's embedding, orthogonal to the others'."""
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    return v


def _name() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def indexed(bodies: list[str], *, title: str) -> tuple[ParsedDocument, list[StoredChunk]]:
    """A parsed document whose chunks are ``bodies``, one sentence each; chunk i is embedded as
    ``unit(i)``."""
    text = "\n".join(bodies)
    chunks, start = [], 0
    for i, body in enumerate(bodies):
        end = start + len(body)
        draft = ChunkDraft(i, start, end, body, ("Heading",), None, None, sentences=((start, end),))
        vectors = np.asarray([unit(i)], dtype=np.float16).tobytes()
        chunks.append(StoredChunk(draft, draft.contextual_text, unit(i), vectors))
        start = end + 1
    return ParsedDocument(text=text, blocks=(), mime="text/plain", title=title), chunks


def new_document(bodies: list[str], *, title: str, filename: str | None = None) -> NewDocument:
    """A document to insert whose chunks are ``bodies`` (as :func:`indexed`), its digest its text's."""
    parsed, chunks = indexed(bodies, title=title)
    text = parsed.text
    return NewDocument(title, filename, hashlib.sha256(text.encode()).digest(), len(text), parsed, chunks)


def store_document(
    collections: CollectionStore, documents: DocumentStore, tenant: UUID, bodies: list[str]
) -> tuple[Collection, DocumentInfo]:
    """A new collection holding one document whose chunks are ``bodies``; chunk i is embedded
    as ``unit(i)`` and has one sentence."""
    collection = collections.create_collection(tenant, _name(), MODEL, DIM)
    [(document, created)] = documents.insert_documents(
        collection, [new_document(bodies, title="Doc", filename="doc.txt")]
    )
    assert created
    return collection, document


class CollectionStoreSuite:
    def test_create_then_find_by_name_and_id(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = collection_store.create_collection(a, "alpha", MODEL, DIM)
        assert (made.tenant_id, made.name, made.embedding_model, made.embedding_dim) == (
            a,
            "alpha",
            MODEL,
            DIM,
        )
        assert collection_store.collection_by_name(a, "alpha").id == made.id
        assert collection_store.collection_by_id(a, made.id).name == "alpha"

    def test_ids_by_name_in_the_order_asked_and_only_the_tenants_own(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        one, two = (collection_store.create_collection(a, name, MODEL, DIM) for name in ("one", "two"))
        collection_store.create_collection(b, "theirs", MODEL, DIM)
        assert collection_store.collection_ids(a, ["two", "one", "two"]) == [two.id, one.id]
        # Another tenant's name is unknown here; the first unknown name is the one named.
        for names, unknown in ((["one", "theirs"], "theirs"), (["nowhere", "one", "gone"], "nowhere")):
            with pytest.raises(NotFound, match=repr(unknown)) as caught:
                collection_store.collection_ids(a, names)
            assert caught.value.code == "collection_not_found"

    def test_a_second_collection_of_one_name_is_a_conflict(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        collection_store.create_collection(a, "twice", MODEL, DIM)
        with pytest.raises(Conflict) as caught:
            collection_store.create_collection(a, "twice", MODEL, DIM)
        assert caught.value.code == "collection_exists"
        # Another tenant may use the name.
        assert collection_store.create_collection(b, "twice", MODEL, DIM).tenant_id == b

    def test_get_or_create_returns_the_same_collection(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        first = collection_store.get_or_create_collection(a, "once", MODEL, DIM)
        assert collection_store.get_or_create_collection(a, "once", MODEL, DIM).id == first.id

    def test_list_is_the_tenants_own_by_name(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        for name in ("zeta", "beta", "mu"):
            collection_store.create_collection(a, name, MODEL, DIM)
        collection_store.create_collection(b, "theirs", MODEL, DIM)
        listed = collection_store.list_collections(a)
        assert [c.name for c in listed] == ["beta", "mu", "zeta"]
        assert all(c.tenant_id == a and c.document_count == 0 for c in listed)

    def test_another_tenants_collection_is_not_found(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        theirs = collection_store.create_collection(b, "private", MODEL, DIM)
        for attempt in (
            lambda: collection_store.collection_by_name(a, "private"),
            lambda: collection_store.collection_by_id(a, theirs.id),
            lambda: collection_store.delete_collection(a, theirs.id),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            assert caught.value.code == "collection_not_found"
        assert collection_store.collection_by_id(b, theirs.id).id == theirs.id
        assert collection_store.content_versions(a, [theirs.id]) == {}

    def test_delete_removes_it_once(
        self, collection_store: CollectionStore, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = collection_store.create_collection(a, "doomed", MODEL, DIM)
        collection_store.delete_collection(a, made.id)
        with pytest.raises(NotFound):
            collection_store.collection_by_id(a, made.id)
        with pytest.raises(NotFound):
            collection_store.delete_collection(a, made.id)


class DocumentStoreSuite:
    def test_insert_then_read_it_back(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, doc = store_document(collection_store, document_store, a, ["first body", "second body"])
        assert (doc.status, doc.chunk_count, doc.version, doc.title) == ("indexed", 2, 1, "Doc")
        assert (doc.progress, doc.pending_version, doc.embedded_chunks, doc.mime) == (
            1.0,
            None,
            2,
            "text/plain",
        )
        assert document_store.get_document(a, doc.id) == doc
        assert document_store.list_documents(a, collection.id) == [doc]
        assert document_store.document_text(a, doc.id)[0] == "first body\nsecond body"
        assert document_store.count_chunks(a, doc.id) == 2
        assert collection_store.collection_by_id(a, collection.id).document_count == 1

    def test_the_same_bytes_are_stored_once(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, doc = store_document(collection_store, document_store, a, ["only body"])
        digest = hashlib.sha256(b"only body").digest()
        assert document_store.find_documents_by_hash(a, collection.id, [digest, b"other"]) == {digest: doc}
        version = collection_store.content_versions(a, [collection.id])[collection.id]
        same = ParsedDocument(text="only body", blocks=(), mime="text/plain")
        [(again, created)] = document_store.insert_documents(
            collection, [NewDocument("Other title", None, digest, 9, same, [])]
        )
        assert not created and again == doc  # unchanged: not its title, nor its chunks
        assert document_store.count_chunks(a, doc.id) == 1
        # Nothing changed, so caches keyed by the content version stay valid.
        assert collection_store.content_versions(a, [collection.id])[collection.id] == version

    def test_a_group_is_stored_at_once_each_bytes_once(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, old = store_document(collection_store, document_store, a, ["stored before"])
        before = collection_store.content_versions(a, [collection.id])[collection.id]
        x, y = new_document(["x one", "x two"], title="T"), new_document(["y"], title="T")
        again = new_document(["stored before"], title="T")
        written = document_store.insert_documents(collection, [x, y, x, again])
        assert [created for _, created in written] == [True, True, False, False]
        assert written[0][0] == written[2][0] and written[3][0] == old
        assert [document_store.count_chunks(a, d.id) for d, _ in written] == [2, 1, 2, 1]
        assert collection_store.collection_by_id(a, collection.id).document_count == 3
        assert collection_store.content_versions(a, [collection.id])[collection.id] > before
        found = document_store.find_documents_by_hash(a, collection.id, [x.digest, y.digest])
        assert found == {x.digest: written[0][0], y.digest: written[1][0]}

    def test_groups_with_the_same_bytes_at_once_both_finish(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        """Two writers of the same bytes in opposite orders: each waits for the collection's
        lock before inserting a row, so neither holds a row the other waits for (a deadlock)."""
        a, _ = tenants
        for _ in range(3):
            collection = collection_store.create_collection(a, _name(), MODEL, DIM)
            docs = [new_document([f"body {n} {uuid.uuid4()}", "two"], title="T") for n in range(12)]
            with ThreadPoolExecutor(2) as pool:
                runs = [
                    pool.submit(document_store.insert_documents, collection, order)
                    for order in (docs, docs[::-1])
                ]
                first, second = (run.result(timeout=60) for run in runs)
            created = [c for _, c in first] + [c for _, c in second]
            assert created.count(True) == 12
            assert {d.id for d, _ in first} == {d.id for d, _ in second}
            assert collection_store.collection_by_id(a, collection.id).document_count == 12

    def test_another_tenants_document_is_not_found(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, b = tenants
        collection, doc = store_document(collection_store, document_store, b, ["their body"])
        for attempt in (
            lambda: document_store.get_document(a, doc.id),
            lambda: document_store.document_text(a, doc.id),
            lambda: document_store.delete_document(a, doc.id),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            assert caught.value.code == "document_not_found"
        assert document_store.list_documents(a, collection.id) == []
        digest = bytes.fromhex(doc.content_hash)
        assert document_store.find_documents_by_hash(a, collection.id, [digest]) == {}
        assert document_store.count_chunks(a) == 0
        assert document_store.get_document(b, doc.id).id == doc.id

    def test_delete_takes_its_chunks_and_moves_the_content_version(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, doc = store_document(collection_store, document_store, a, ["gone soon"])
        before = collection_store.content_versions(a, [collection.id])[collection.id]
        assert document_store.delete_document(a, doc.id) == collection.id
        assert collection_store.content_versions(a, [collection.id])[collection.id] > before
        assert document_store.count_chunks(a, doc.id) == 0
        with pytest.raises(NotFound):
            document_store.get_document(a, doc.id)


class ChunkSearchSuite:
    def test_dense_search_finds_the_nearest_chunk_first(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, _ = store_document(collection_store, document_store, a, ["zero", "one", "two"])
        query = np.asarray(unit(1), dtype=np.float32)
        found = chunk_search.dense_search(a, [collection.id], query, limit=2, ef_search=40)
        assert len(found) == 2
        assert found[0][1] == pytest.approx(1.0) and found[1][1] < found[0][1]
        [hit] = chunk_search.hits(a, [collection.id], found[:1])
        assert (hit.body, hit.ord, hit.score, hit.heading_path) == ("one", 1, found[0][1], ("Heading",))

    def test_nothing_crosses_tenants(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, b = tenants
        theirs, _ = store_document(collection_store, document_store, b, ["secret"])
        query = np.asarray(unit(0), dtype=np.float32)
        found = chunk_search.dense_search(b, [theirs.id], query, limit=5, ef_search=40)
        assert found
        assert chunk_search.dense_search(a, [theirs.id], query, limit=5, ef_search=40) == []
        assert chunk_search.hits(a, [theirs.id], found) == []
        ids = [chunk_id for chunk_id, _ in found]
        assert chunk_search.sentence_vectors(a, ids) == {}
        assert chunk_search.chunk_vectors(a, ids) == {}
        assert chunk_search.scopes(a, [theirs.id]) == []
        assert chunk_search.lexical_corpus(a, theirs.id).texts == []

    def test_hits_keep_the_given_order_and_drop_unknown_ids(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, doc = store_document(collection_store, document_store, a, ["x", "y"])
        corpus = chunk_search.lexical_corpus(a, collection.id)
        first, second = corpus.ids
        hits = chunk_search.hits(a, [collection.id], [(second, 0.9), (-1, 0.8), (first, 0.5)])
        assert [(h.chunk_id, h.score, h.document_id) for h in hits] == [
            (second, 0.9, doc.id),
            (first, 0.5, doc.id),
        ]

    def test_snapshots_carry_the_content_version(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, doc = store_document(collection_store, document_store, a, ["alpha text", "beta text"])
        version = collection_store.content_versions(a, [collection.id])[collection.id]
        corpus = chunk_search.lexical_corpus(a, collection.id)
        assert corpus.version == version and corpus.documents == [doc.id, doc.id]
        assert [t.split("\n")[-1] for t in corpus.texts] == ["alpha text", "beta text"]
        vectors = chunk_search.collection_vectors(a, collection.id, DIM, max_chunks=10)
        assert vectors.version == version and list(vectors.ids) == corpus.ids
        assert vectors.vectors is not None
        np.testing.assert_allclose(np.linalg.norm(vectors.vectors, axis=1), 1.0, rtol=1e-5)
        too_many = chunk_search.collection_vectors(a, collection.id, DIM, max_chunks=1)
        assert too_many.vectors is None and too_many.version == version
        [scope] = chunk_search.scopes(a, [collection.id])
        assert (scope.id, scope.embedding_dim, scope.content_version) == (collection.id, DIM, version)

    def test_vectors_and_sentences_of_chunks(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        a, _ = tenants
        collection, _ = store_document(collection_store, document_store, a, ["aa", "bbb"])
        first, second = chunk_search.lexical_corpus(a, collection.id).ids
        assert (
            chunk_search.sentence_vectors(a, [second])[second]
            == np.asarray([unit(1)], dtype=np.float16).tobytes()
        )
        both = chunk_search.chunk_vectors(a, [first, second, 10**15])  # an unknown id: left out
        assert set(both) == {first, second}
        np.testing.assert_allclose(both[second].embedding, unit(1))
        assert both[second].sentences == chunk_search.sentence_vectors(a, [second])[second]
        assert both[second].model == collection.embedding_model
        [hit] = chunk_search.hits(a, [collection.id], [(second, 1.0)])
        assert hit.sentences == (Sentence(3, 6, None),)

    def test_hits_carry_their_sentences_with_pages(
        self,
        collection_store: CollectionStore,
        document_store: DocumentStore,
        chunk_search: ChunkSearch,
        tenants: tuple[UUID, UUID],
    ) -> None:
        """Answering cites from what hits carry, so each sentence's page must come with it."""
        a, _ = tenants
        collection = collection_store.create_collection(a, _name(), MODEL, DIM)
        text = "Page one. Page two starts. Still two."
        draft = ChunkDraft(0, 0, len(text), text, (), 1, 2, sentences=((0, 9), (10, 26), (27, 37)))
        parsed = ParsedDocument(
            text=text,
            blocks=(Block(BlockKind.PARAGRAPH, 0, 9, 1, ()), Block(BlockKind.PARAGRAPH, 10, 37, 2, ())),
            mime="text/plain",
        )
        vectors = np.asarray([unit(0)] * 3, dtype=np.float16).tobytes()
        digest = hashlib.sha256(text.encode()).digest()
        chunks = [StoredChunk(draft, text, unit(0), vectors)]
        [(document, _)] = document_store.insert_documents(
            collection, [NewDocument("Pages", "pages.txt", digest, len(text), parsed, chunks)]
        )
        [chunk_id] = chunk_search.lexical_corpus(a, collection.id).ids
        [hit] = chunk_search.hits(a, [collection.id], [(chunk_id, 1.0)])
        assert hit.document_id == document.id
        assert hit.sentences == (Sentence(0, 9, 1), Sentence(10, 26, 2), Sentence(27, 37, 2))


class KeyLookupSuite:
    def test_a_live_key_proves_its_tenant(self, key_lookup: KeyLookup, issued_key: tuple[str, UUID]) -> None:
        secret, tenant = issued_key
        principal = key_lookup.principal_for_key(secret)
        assert principal is not None and principal.tenant_id == tenant

    def test_an_unknown_key_proves_nobody(self, key_lookup: KeyLookup, issued_key: tuple[str, UUID]) -> None:
        secret, _ = issued_key
        assert key_lookup.principal_for_key(secret + "x") is None
        assert key_lookup.principal_for_key("") is None
