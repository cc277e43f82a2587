"""What the stores write for a document: its chunks with their vectors, and a whole new document
at once (the direct path). Plain data, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the package imports this module as it starts
    from docrag.domain import ChunkDraft, ParsedDocument


@dataclass(frozen=True, slots=True)
class ChunkVectors:
    """A stored chunk's vectors, reused by a new version whose chunk has the same text."""

    embedding: list[float]
    sentence_vectors: bytes | None


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk ready to insert: its draft, its vector and its sentence vectors."""

    draft: ChunkDraft
    content: str
    embedding: list[float]
    sentence_vectors: bytes | None


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document stored already indexed, with all its chunks (jobs/ingest_now.py)."""

    title: str
    filename: str | None
    digest: bytes  # SHA-256 of the uploaded bytes: a collection holds the same bytes once
    size_bytes: int
    parsed: ParsedDocument
    chunks: Sequence[StoredChunk]
