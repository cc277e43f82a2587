"""Stored answers, conversations and feedback: plain data, and the one JSON shape an answer's
sentences are stored (and returned) in. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from docrag.domain import AnswerSentence, TextBox

Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    id: UUID
    conversation_id: UUID | None
    turn: int | None
    question: str
    resolved_question: str
    answer: str
    answered: bool
    reason: str | None
    generator: str
    collections: tuple[str, ...]
    sentences: tuple[dict[str, Any], ...]  # sentence_record()s
    created_at: str
    #: Text it cited was deleted: ``answer`` and ``sentences`` are emptied (store/erasure.py).
    source_deleted: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    id: UUID
    title: str | None
    created_at: str
    updated_at: str
    turns: tuple[StoredAnswer, ...] = ()
    #: In a listing, which carries no turns: how many it has, and the first one's question.
    turn_count: int = 0
    first_question: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    answer_id: UUID
    rating: Rating
    comment: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    answers: int  # answers given
    rated: int  # answers with at least one rating
    up: int
    down: int

    @property
    def satisfaction(self) -> float | None:
        """Share of ratings that are 'up' (``None`` before any rating)."""
        total = self.up + self.down
        return round(self.up / total, 4) if total else None


def verdict(sentence: AnswerSentence) -> str | None:
    if sentence.supported is None:
        return None
    return "supported" if sentence.supported else "unsupported"


def box_record(box: TextBox) -> dict[str, Any]:
    """An OCR line's box as the API returns it, and as chunks and answers store it."""
    return {
        "start": box.start,
        "end": box.end,
        "page": box.page,
        "box": list(box.box),
        "width": box.width,
        "height": box.height,
    }


def sentence_record(s: AnswerSentence) -> dict[str, Any]:
    """A sentence as the API returns it and the answers table stores it."""
    return {
        "text": s.text,
        "score": s.score,
        "support": s.support,
        "verdict": verdict(s),
        "citations": [
            {
                "document_id": str(c.document_id),
                "document_title": c.document_title,
                "document_version": c.document_version,
                "chunk_id": c.chunk_id,
                "page": c.page,
                "quote": c.quote,
                "start": c.start,
                "end": c.end,
                "heading_path": list(c.heading_path),
                "boxes": [box_record(b) for b in c.boxes],
            }
            for c in s.citations
        ],
    }
