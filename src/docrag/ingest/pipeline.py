"""From uploaded bytes to embedded chunks: check, parse (sandboxed), chunk, embed. No database.

What is stored, and when, is the callers' (docrag/jobs/): the queue's workers (jobs/runner.py)
call :meth:`Ingestor.parse`, :meth:`Ingestor.chunk` and :meth:`Ingestor.embed`; the direct
in-process path (jobs/ingest_now.py, the BEIR evaluation) embeds many documents' chunks
together with :meth:`Ingestor.embed_together`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any, TypeVar

import numpy as np

from docrag.domain import ChunkDraft, ChunkVectors, Collection, ParsedDocument, StoredChunk
from docrag.errors import DocumentOverBudget, EmptyFile, FileTooLarge, NoTextFound, OcrDisabled
from docrag.ingest.chunking import chunk_document
from docrag.ingest.detect import IMAGES, detect_type
from docrag.ingest.parsers import OcrOptions, ParseLimits, parse
from docrag.ingest.parsers.ocr import disabled_message
from docrag.ingest.sandbox import ParseSandbox
from docrag.providers.model_set import ModelSet, as_models
from docrag.providers.protocol import Embedder
from docrag.settings import Settings
from docrag.text.tokenizer import count_tokens

T = TypeVar("T")

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes
    filename: str | None = None
    title: str | None = None


#: A previous version's vectors keyed by (embedded text, sentence spans as offsets into it).
Reusable = Mapping[tuple[str, tuple[int, ...]], ChunkVectors]


class Ingestor:
    def __init__(
        self,
        embedder: Embedder | ModelSet,
        settings: Settings,
        *,
        redacts: Callable[[Collection], bool],
    ) -> None:
        #: A collection's chunks are embedded by the model that built its vectors.
        self._models = as_models(embedder)
        #: New collections' model: what semantic chunking compares sentences with.
        self._embedder = self._models.primary
        #: The collection's PII policy (docs/pii.md), looked up by the caller's store.
        self._redacts = redacts
        self._settings = settings
        self._limits = ParseLimits(
            max_pages=settings.max_pages,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            ocr=OcrOptions(settings.ocr_languages, settings.ocr_page_seconds, settings.ocr_max_pixels)
            if settings.ocr == "on"
            else None,
        )
        #: Parsing runs in child processes under the memory and time limits (docrag/ingest/sandbox.py).
        self.sandbox = (
            ParseSandbox(
                self._limits,
                timeout_seconds=settings.parse_timeout_seconds,
                memory_mb=settings.worker_memory_mb,
            )
            if settings.parse_sandbox
            else None
        )

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()

    def parse(self, data: bytes, filename: str | None, mime: str | None = None) -> ParsedDocument:
        """Parse as ``mime`` (the type submit detected), or detect it when none is known.

        :raises DocRAGError: the typed reason, hostile files included (see errors.py)."""
        if self.sandbox is not None:
            return self.sandbox.parse(data, filename, mime)
        return parse(data, filename, self._limits, mime)

    def isolated(self, task: Callable[..., T], *args: Any) -> T:
        """``task(*args)`` on an uploaded file's bytes under the parse sandbox's limits (in a
        child process), as a parse is: a hostile file fails its request, not this process."""
        if self.sandbox is not None:
            return self.sandbox.run(task, *args)
        return task(*args)

    def redacts(self, collection: Collection) -> bool:
        """Whether the collection redacts PII (docs/pii.md), in its text and in names and titles."""
        return self._redacts(collection)

    def check_collection(self, collection: Collection) -> Embedder:
        """The embedder for the collection's chunks: the model that built its vectors.

        :raises Conflict: (409 embedding_model_mismatch) when no model of this server built them."""
        return self.embedder_for(collection.embedding_model, collection.embedding_dim, repr(collection.name))

    @property
    def primary(self) -> Embedder:
        """The model new collections get."""
        return self._embedder

    def embedder_for(self, model: str, dim: int, collection: str) -> Embedder:
        """:raises Conflict: (409 embedding_model_mismatch) unless this server serves ``model``."""
        return self._models.for_model(model, dim, collection)

    def check_type(self, data: bytes, filename: str | None) -> str:
        """The upload's type, detected once before anything is stored.

        :raises UnsupportedFileType: (``ocr_disabled`` for an image while OCR is off) and the other
            refusals of :func:`~docrag.ingest.detect.detect_type`."""
        mime = detect_type(data, filename)
        if mime in IMAGES and self._settings.ocr == "off":
            raise OcrDisabled(disabled_message("an image"))
        return mime

    def check_size(self, data: bytes) -> None:
        """:raises FileTooLarge, EmptyFile: before anything is parsed or stored."""
        if len(data) > self._settings.max_upload_bytes:
            raise FileTooLarge(f"file is {len(data)} bytes; the limit is {self._settings.max_upload_bytes}")
        if not data.strip():
            raise EmptyFile("the file is empty")

    def prepare(self, data: bytes, filename: str | None) -> tuple[ParsedDocument, list[ChunkDraft]]:
        """Parse and chunk; :raises BadInput: (a subclass) when the bytes can't be indexed."""
        parsed = self.parse(data, filename)
        return parsed, self.chunk(parsed)

    def chunk(self, parsed: ParsedDocument) -> list[ChunkDraft]:
        """:raises NoTextFound: when the parsed document holds nothing to index.
        :raises DocumentOverBudget: when it holds more than one document may (settings)."""
        limit = self._settings.max_document_chars
        if len(parsed.text) > limit:
            raise DocumentOverBudget(
                f"the document's text is {len(parsed.text):,} characters; one document may hold"
                f" {limit:,} (DOCRAG_MAX_DOCUMENT_CHARS): split it, or raise the limit"
            )
        drafts = chunk_document(
            parsed,
            max_tokens=self._settings.chunk_max_tokens,
            target_tokens=self._settings.chunk_target_tokens,
            count_tokens=count_tokens,
            mode=self._settings.chunking,
            embed=lambda texts: self._embedder.embed_batch(texts),
        )
        if not drafts:
            raise NoTextFound("the document holds no text DocRAG can index")
        if len(drafts) > self._settings.max_document_chunks:
            raise DocumentOverBudget(
                f"the document makes {len(drafts):,} chunks; one document may make"
                f" {self._settings.max_document_chunks:,} (DOCRAG_MAX_DOCUMENT_CHUNKS): split it,"
                " or raise the limit"
            )
        if parsed.boxes:  # OCR'd: each chunk keeps where its lines sit on their pages
            drafts = [replace(d, boxes=tuple(parsed.boxes_in(d.start, d.end))) for d in drafts]
        return drafts

    def embed(
        self,
        drafts: Sequence[ChunkDraft],
        on_batch: Callable[[int, int], None] | None = None,
        *,
        reuse: Reusable | None = None,
        embedder: Embedder | None = None,
    ) -> tuple[list[StoredChunk], int]:
        """Embed one document's chunks a batch at a time, reporting (done, total) after each,
        with ``embedder`` (its collection's, :meth:`check_collection`; the primary model's
        without it).

        A chunk whose embedded text and sentence spans are in ``reuse`` (the previous version's,
        built by the same model) takes those vectors instead of being embedded again.

        :returns: the chunks in order, and how many were embedded anew.
        """
        stored, todo = _reused(drafts, reuse or {})
        size = self._settings.embed_batch_size
        for begin in range(0, len(todo), size):
            batch = todo[begin : begin + size]
            together = self.embed_together([drafts[i] for i in batch], embedder)
            for i, chunk in zip(batch, together, strict=True):
                stored[i] = chunk
            if on_batch is not None:
                on_batch(begin + len(batch), len(todo))
        return [c for c in stored if c is not None], len(todo)

    def embed_documents(
        self, documents: Sequence[tuple[Sequence[ChunkDraft], Reusable]], embedder: Embedder | None = None
    ) -> list[tuple[list[StoredChunk], int]]:
        """Several documents' chunks, each taking ``reuse``'s vectors as :meth:`embed` does and
        the rest embedded in one call (small documents run together: jobs/group_runner.py).

        :returns: per document, its chunks in order and how many were embedded anew.
        """
        plans = [_reused(drafts, reuse) for drafts, reuse in documents]
        todo = [
            drafts[i] for (drafts, _), (_, indexes) in zip(documents, plans, strict=True) for i in indexes
        ]
        fresh = iter(self.embed_together(todo, embedder))
        out: list[tuple[list[StoredChunk], int]] = []
        for stored, indexes in plans:
            for i in indexes:
                stored[i] = next(fresh)
            out.append(([c for c in stored if c is not None], len(indexes)))
        return out

    def embed_together(
        self, drafts: Sequence[ChunkDraft], embedder: Embedder | None = None
    ) -> list[StoredChunk]:
        """Embed ``drafts`` in one call, however many documents they come from (the embedder
        batches them): the direct path's throughput comes from handing it many at once.
        ``embedder``: as in :meth:`embed`."""
        texts = [d.contextual_text for d in drafts]
        spans = [_relative_spans(d) for d in drafts]
        embedded = (embedder or self._embedder).embed_passages(texts, spans)
        return [
            StoredChunk(
                draft=d,
                content=text,
                embedding=e.vector.tolist(),
                sentence_vectors=e.span_vectors.astype(np.float16).tobytes() if len(e.span_vectors) else None,
            )
            for d, text, e in zip(drafts, texts, embedded, strict=True)
        ]


def _reused(drafts: Sequence[ChunkDraft], reuse: Reusable) -> tuple[list[StoredChunk | None], list[int]]:
    """Each draft's chunk when ``reuse`` holds its vectors (its embedded text and sentence spans
    unchanged), and the indexes of the drafts to embed."""
    stored: list[StoredChunk | None] = [None] * len(drafts)
    todo: list[int] = []
    for i, d in enumerate(drafts):
        found = reuse.get((d.contextual_text, _flat(_relative_spans(d))))
        if found is None:
            todo.append(i)
        else:
            stored[i] = StoredChunk(d, d.contextual_text, found.embedding, found.sentence_vectors)
    return stored, todo


def _flat(spans: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    return tuple(offset for span in spans for offset in span)


def _relative_spans(draft: ChunkDraft) -> list[tuple[int, int]]:
    """Sentence spans as offsets into the chunk's contextual text (heading prefix + body)."""
    shift = len(draft.contextual_text) - len(draft.body) - draft.start
    return [(s + shift, e + shift) for s, e in draft.sentences]


def document_title(title: str | None, filename: str | None, parsed: ParsedDocument | None) -> str:
    """The caller's title, else the document's own, else its file name, else its first words.

    Without ``parsed`` (a queued upload not yet parsed) this is the provisional title.
    """
    if title and title.strip():
        return title.strip()[:500]
    if parsed is not None and parsed.title:
        return parsed.title[:500]
    name = safe_filename(filename)
    if name:
        return name
    if parsed is None:
        return "untitled"
    return parsed.text[:80].split("\n")[0]


def safe_filename(filename: str | None) -> str | None:
    """Only the final path component, for display: uploads are never written under it."""
    if not filename:
        return None
    name = _CONTROL_CHARS.sub("", PurePath(filename.replace("\\", "/")).name).strip()
    if name in (".", ".."):
        return None
    return name[:255] or None
