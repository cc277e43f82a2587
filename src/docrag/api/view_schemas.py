"""Bodies of the routes the page (docs/web.md) reads besides the core API: conversation listings
and where a cited quote sits on a PDF page."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from docrag.domain.records import Conversation


class ConversationSummaryOut(BaseModel):
    """A conversation in a listing: its turns are fetched with GET /v1/conversations/{id}."""

    id: UUID
    title: str | None
    created_at: str
    updated_at: str
    turn_count: int
    first_question: str | None

    @classmethod
    def of(cls, c: Conversation) -> ConversationSummaryOut:
        return cls(
            id=c.id,
            title=c.title,
            created_at=c.created_at,
            updated_at=c.updated_at,
            turn_count=c.turn_count,
            first_question=c.first_question,
        )


class PageBoxesOut(BaseModel):
    """Where a quote sits on a PDF page's image (``GET .../pages/{page}``), in its pixels."""

    document_id: UUID
    page: int
    page_count: int
    width: int
    height: int
    boxes: list[tuple[int, int, int, int]] = Field(description="(left, top, right, bottom) per line")
    matched: str = Field(description="The page's text that matched the quote; empty: not found")
