"""Plain data types shared by every stage. No I/O here.

A parser turns bytes into a :class:`ParsedDocument`: one normalised ``text`` plus the
:class:`Block` spans (headings, paragraphs, list items, tables) that tile it, each with
its page and heading path. Every later offset (chunk, sentence, citation quote) is a
character offset into that one ``text``, so a citation can always be checked against it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal
from uuid import UUID

from docrag.domain.stored import ChunkVectors as ChunkVectors
from docrag.domain.stored import NewDocument as NewDocument
from docrag.domain.stored import StoredChunk as StoredChunk
from docrag.domain.tables import Table as Table
from docrag.domain.tables import row_text as row_text


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    TABLE = "table"
    TABLE_ROW = "table_row"  # one row of a :class:`Table`, never cut by the chunker
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a parsed document: ``text[start:end]`` of its document."""

    kind: BlockKind
    start: int
    end: int
    page: int | None
    heading_path: tuple[str, ...]
    level: int = 0  # heading level (1 = top) for HEADING blocks, 0 otherwise


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file inside a parsed document (an e-mail's attachment), to be ingested on its own."""

    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class TextBox:
    """Where OCR read ``text[start:end]`` (one line): its page and pixel box on that page's
    image (left, top, right, bottom; origin top left), the image ``width`` and ``height``."""

    start: int
    end: int
    page: int
    box: tuple[int, int, int, int]
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    text: str
    blocks: tuple[Block, ...]
    mime: str
    title: str | None = None
    page_count: int | None = None
    #: Files the worker submits as documents of their own, in the same collection.
    attachments: tuple[Attachment, ...] = ()
    #: OCR'd lines, in text order (docrag/ingest/parsers/ocr.py); empty for born-digital text.
    boxes: tuple[TextBox, ...] = ()

    def boxes_in(self, start: int, end: int) -> list[TextBox]:
        """The OCR line boxes overlapping ``text[start:end]`` (a chunk's or a quote's span)."""
        return boxes_over(self.boxes, start, end)

    def page_starts(self) -> list[int]:
        """Offset in ``text`` where each page begins (index 0 is page 1); empty without pages."""
        starts: list[int] = []
        for block in self.blocks:
            if block.page is None:
                continue
            while len(starts) < block.page:
                starts.append(block.start)
        return starts


def boxes_over(boxes: Sequence[TextBox], start: int, end: int) -> list[TextBox]:
    """The boxes (in text order) of the lines overlapping ``[start, end)``."""
    first = bisect.bisect_right([b.end for b in boxes], start)
    found = []
    for box in boxes[first:]:
        if box.start >= end:
            break
        found.append(box)
    return found


def page_at(page_starts: list[int], offset: int) -> int | None:
    """The 1-based page holding ``offset``, given :meth:`ParsedDocument.page_starts`."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


class DocumentBuilder:
    """Assembles a :class:`ParsedDocument`: parsers append blocks in reading order.

    Blocks are separated by a blank line in ``text``. Heading blocks maintain the heading
    stack, so every block records the path of headings above it.
    """

    def __init__(self, mime: str) -> None:
        self._mime = mime
        self._parts: list[str] = []
        self._length = 0
        self._blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []
        self.title: str | None = None
        self.page_count: int | None = None
        self.attachments: list[Attachment] = []

    def _path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._headings)

    def add(self, kind: BlockKind, text: str, *, page: int | None = None, level: int = 0) -> None:
        text = clean_text(text)
        if not text:
            return
        if kind is BlockKind.HEADING:
            level = max(1, level)
            heading = " ".join(text.split())
            while self._headings and self._headings[-1][0] >= level:
                self._headings.pop()
            path = self._path()
            self._headings.append((level, heading))
            if self.title is None and level == 1:
                self.title = heading
        else:
            path = self._path()
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        self._blocks.append(Block(kind, start, self._length, page, path, level))

    def add_table(self, table: Table, *, page: int | None = None) -> None:
        """``table``: its caption as a paragraph, then one ``TABLE_ROW`` block per row."""
        if table.caption:
            self.add(BlockKind.PARAGRAPH, table.caption, page=page)
        for text in table.row_texts():
            self.add(BlockKind.TABLE_ROW, text, page=page)

    @property
    def length(self) -> int:
        """Characters of ``text`` so far (where the next block starts, after its separator)."""
        return self._length

    def build(self, boxes: tuple[TextBox, ...] = ()) -> ParsedDocument:
        return ParsedDocument(
            text="".join(self._parts),
            blocks=tuple(self._blocks),
            mime=self._mime,
            title=self.title,
            page_count=self.page_count,
            attachments=tuple(self.attachments),
            boxes=boxes,
        )


def clean_text(text: str) -> str:
    """Normalise whitespace inside a block and drop characters PostgreSQL can't store (NUL)."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A chunk before it is stored: a span of the parsed text inside one section."""

    ord: int
    start: int
    end: int
    body: str  # == parsed.text[start:end]
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    sentences: tuple[tuple[int, int], ...] = ()  # sentence spans, offsets into the parsed text
    #: OCR'd lines of the chunk with their page boxes (empty for born-digital text).
    boxes: tuple[TextBox, ...] = ()

    @property
    def contextual_text(self) -> str:
        """What is embedded and indexed: the heading path as context, then the body."""
        if not self.heading_path:
            return self.body
        return " > ".join(self.heading_path) + "\n" + self.body


@dataclass(frozen=True, slots=True)
class Sentence:
    """One stored sentence of a retrieved chunk: offsets into its document's text, and its page."""

    start: int
    end: int
    page: int | None


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved chunk, already checked against PostgreSQL for tenant and existence, with
    its stored sentences (read with it, so answering never reads the chunk again)."""

    chunk_id: int
    document_id: UUID
    collection_id: UUID
    document_title: str
    ord: int
    start: int
    end: int
    body: str
    heading_path: tuple[str, ...]
    page_start: int | None
    page_end: int | None
    score: float
    dense_score: float | None = None
    lexical_score: float | None = None
    rerank_score: float | None = None  # set when a reranker reordered this hit
    document_version: int = 1  # the document version this chunk belongs to (served now)
    boxes: tuple[TextBox, ...] = ()  # OCR'd lines with their page boxes
    sentences: tuple[Sentence, ...] = ()  # in text order; empty if none were stored

    def boxes_in(self, start: int, end: int) -> tuple[TextBox, ...]:
        """The boxes of this chunk's OCR'd lines that hold ``[start, end)`` (a quote's span)."""
        return tuple(boxes_over(self.boxes, start, end))


@dataclass(frozen=True, slots=True)
class Citation:
    document_id: UUID
    document_title: str
    chunk_id: int
    page: int | None
    quote: str
    start: int  # offsets of ``quote`` in the document's parsed text
    end: int
    heading_path: tuple[str, ...] = ()
    document_version: int = 1  # the version of the document the quote was taken from
    #: OCR'd text only: the page boxes of the lines that hold the quote (docs/ocr-and-tables.md).
    boxes: tuple[TextBox, ...] = ()


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    text: str
    citations: tuple[Citation, ...]
    score: float
    #: The groundedness detector's support of ``text`` by the cited passages, in [0, 1], and its verdict.
    support: float | None = None
    supported: bool | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    answered: bool
    text: str
    sentences: tuple[AnswerSentence, ...]
    passages: tuple[Hit, ...] = field(default=())  # closest passages, shown also when abstaining
    reason: str | None = None
    generator: str = "extractive"  # which generator wrote it (a model id for an LLM)
    #: Extractive answers: the probability that the best sentence answers (answering/answerability.py).
    answerability: float | None = None


@dataclass(frozen=True, slots=True)
class Collection:
    id: UUID
    tenant_id: UUID
    name: str
    embedding_model: str
    embedding_dim: int
    document_count: int = 0


DocumentStatus = Literal["queued", "parsing", "embedding", "indexed", "failed"]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    id: UUID
    tenant_id: UUID
    collection_id: UUID
    title: str
    filename: str | None
    mime: str
    content_hash: str
    size_bytes: int
    page_count: int | None
    chunk_count: int
    created_at: str
    #: queued → parsing → embedding → indexed, or failed (with error_code and error_message).
    status: DocumentStatus = "indexed"
    progress: float = 1.0
    error_code: str | None = None
    error_message: str | None = None
    updated_at: str | None = None
    #: The version served (searchable, cited): 0 until the first is indexed. A newer upload in
    #: progress (or failed) is ``pending_version``; status and progress describe that upload.
    version: int = 1
    pending_version: int | None = None
    #: Chunks of the served version that had to be embedded; the rest reused the previous
    #: version's vectors because their text did not change.
    embedded_chunks: int = 0

    @property
    def final(self) -> bool:
        """Whether ingestion is over for this document (indexed or failed)."""
        return self.status in FINAL_STATUSES


FINAL_STATUSES = frozenset({"indexed", "failed"})


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed ingestion job: ``worker_id`` owns it until its lease runs out."""

    id: int
    tenant_id: UUID
    collection_id: UUID
    document_id: UUID
    attempts: int  # including this one
    max_attempts: int
    worker_id: str
    size_bytes: int = 0  # of the upload it indexes


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's, or a signed-in user's, tenant and role, and the collections
    an API key is scoped to.

    A user's principal (an access token, docs/auth.md) has ``user_id`` and ``session_id`` and no
    ``key_id``; with ``enrollment_only`` its tenant requires MFA of admins and this admin has none
    yet, so it may only enroll (api/roles.py).
    """

    key_id: UUID | None
    tenant_id: UUID
    role: str  # admin | editor | reader
    #: The only collections (ids) the key may see; None: every collection of its tenant.
    collections: frozenset[UUID] | None = None
    user_id: UUID | None = None
    session_id: UUID | None = None
    enrollment_only: bool = False

    def can_write(self) -> bool:
        return self.role in ("admin", "editor")

    @property
    def subject(self) -> tuple[str, str]:
        """Whose rate limits a request counts against: ("key", id) or ("user", id)."""
        if self.user_id is not None:
            return ("user", str(self.user_id))
        return ("key", str(self.key_id))
