"""Ingestion without the queue: parse, chunk and embed in this process, then store each document
at once (``docrag eval``, benchmarks, tests). Uploads from clients go through the queue instead
(jobs/submit.py and jobs/runner.py); both write a document's chunks through the same store
function (store/document_writes.py).

The chunks of many documents are embedded together in full batches, which is where the BEIR
evaluation's throughput comes from; each group's documents are then stored in one transaction,
so a document is either fully searchable or absent. Identical bytes in one collection are stored
once.

The uploads go through in groups of :data:`GROUP` as a two-stage pipeline: while one group's
chunks are embedded (the model's threads, which release the GIL), this thread parses and chunks
the next group and stores the one before. Done one after the other, the model's cores sat idle
for a quarter of the time (parse, chunk and the PostgreSQL writes run on one thread).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from docrag.domain import ChunkDraft, Collection, DocumentInfo, NewDocument, ParsedDocument, StoredChunk
from docrag.errors import DocRAGError
from docrag.ingest.pipeline import Ingestor, Upload, document_title, safe_filename
from docrag.ingest.redaction import redact_document
from docrag.store.protocol import DocumentStore
from docrag.text.pii import redact

#: Uploads per pipeline group: small enough that the first group's embedding starts soon, large
#: enough that the model gets full batches (abstracts make about two chunks each).
GROUP = 32


@dataclass(frozen=True, slots=True)
class IngestResult:
    document: DocumentInfo | None
    created: bool
    error: DocRAGError | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    upload: Upload
    digest: bytes
    parsed: ParsedDocument
    drafts: list[ChunkDraft]
    title: str


class IngestNow:
    def __init__(self, documents: DocumentStore, ingestor: Ingestor) -> None:
        self._documents = documents
        self._ingestor = ingestor

    def ingest(self, collection: Collection, upload: Upload) -> tuple[DocumentInfo, bool]:
        """Store one upload; :raises DocRAGError: with the reason when it can't be read."""
        (result,) = self.ingest_many(collection, [upload])
        if result.error is not None:
            raise result.error
        assert result.document is not None
        return result.document, result.created

    def ingest_many(self, collection: Collection, uploads: Sequence[Upload]) -> list[IngestResult]:
        """Store several uploads, embedding their chunks together in full batches.

        Each upload succeeds or fails on its own; failures carry their typed error.

        :raises Conflict: (embedding_model_mismatch) when the collection's vectors are another model's.
        """
        model = self._ingestor.check_collection(collection)
        redacts = self._ingestor.redacts(collection)
        results: list[IngestResult | None] = [None] * len(uploads)
        embedding: deque[tuple[list[tuple[int, _Prepared]], Future[list[StoredChunk]]]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="docrag-ingest-embed") as embedder:
            for begin in range(0, len(uploads), GROUP):
                group = self._prepare_group(collection, uploads, begin, redacts, results)
                drafts = [draft for _, p in group for draft in p.drafts]
                embedding.append((group, embedder.submit(self._ingestor.embed_together, drafts, model)))
                if len(embedding) > 1:  # the group before is embedded by now, or nearly
                    self._store_group(collection, *embedding.popleft(), results)
            while embedding:
                self._store_group(collection, *embedding.popleft(), results)
        return [r for r in results if r is not None]

    def _prepare_group(
        self,
        collection: Collection,
        uploads: Sequence[Upload],
        begin: int,
        redacts: bool,
        results: list[IngestResult | None],
    ) -> list[tuple[int, _Prepared]]:
        """Parse and chunk ``uploads[begin:begin + GROUP]``; a failure or a duplicate goes
        straight to ``results``, the rest are returned to be embedded."""
        end = min(begin + GROUP, len(uploads))
        for i in range(begin, end):
            try:
                self._ingestor.check_size(uploads[i].data)
            except DocRAGError as exc:
                results[i] = IngestResult(None, False, exc)
        digests = {
            i: hashlib.sha256(uploads[i].data).digest() for i in range(begin, end) if results[i] is None
        }
        stored = self._documents.find_documents_by_hash(
            collection.tenant_id, collection.id, list(set(digests.values()))
        )
        prepared: list[tuple[int, _Prepared]] = []
        for i, digest in digests.items():
            if digest in stored:
                results[i] = IngestResult(stored[digest], False)
                continue
            try:
                prepared.append((i, self._prepare(uploads[i], digest, redacts)))
            except DocRAGError as exc:
                results[i] = IngestResult(None, False, exc)
        return prepared

    def _store_group(
        self,
        collection: Collection,
        group: list[tuple[int, _Prepared]],
        embedded: Future[list[StoredChunk]],
        results: list[IngestResult | None],
    ) -> None:
        """Store an embedded group's documents in one transaction."""
        stored = embedded.result()
        documents: list[NewDocument] = []
        for _, p in group:
            chunks, stored = stored[: len(p.drafts)], stored[len(p.drafts) :]
            documents.append(
                NewDocument(
                    title=p.title,
                    filename=safe_filename(p.upload.filename),
                    digest=p.digest,
                    size_bytes=len(p.upload.data),
                    parsed=p.parsed,
                    chunks=chunks,
                )
            )
        if not documents:
            return
        written = self._documents.insert_documents(collection, documents)
        for (i, _), (document, created) in zip(group, written, strict=True):
            results[i] = IngestResult(document, created)

    def _prepare(self, upload: Upload, digest: bytes, redacts: bool) -> _Prepared:
        parsed = self._ingestor.parse(upload.data, upload.filename)
        title = document_title(upload.title, upload.filename, parsed)
        if redacts:
            parsed, title = redact_document(parsed), redact(title)  # as the queue's workers do
        return _Prepared(upload, digest, parsed, self._ingestor.chunk(parsed), title)
