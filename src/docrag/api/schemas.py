"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from docrag.domain import Answer, Collection, DocumentInfo, DocumentStatus, Hit

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class CollectionIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, '_', '.', '-'; up to 100")


class CollectionOut(BaseModel):
    id: UUID
    name: str
    embedding_model: str
    embedding_dim: int
    document_count: int

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(
            id=c.id,
            name=c.name,
            embedding_model=c.embedding_model,
            embedding_dim=c.embedding_dim,
            document_count=c.document_count,
        )


class DocumentOut(BaseModel):
    id: UUID
    collection_id: UUID
    title: str
    filename: str | None
    mime: str
    content_hash: str
    size_bytes: int
    page_count: int | None
    chunk_count: int
    status: DocumentStatus = Field(
        description="queued → parsing → embedding → indexed (searchable), or failed"
    )
    progress: float = Field(description="Share of the current stage done (embedding: per batch), 0..1")
    error_code: str | None = Field(description="Why ingestion failed (see errors.py), when failed")
    error_message: str | None
    version: int = Field(description="The version served (searchable, cited); 0 before the first")
    pending_version: int | None = Field(
        description="A newer upload not yet served (queued, in progress, or failed); status is its"
    )
    embedded_chunks: int = Field(
        description="Chunks the served version embedded; the rest reused unchanged text's vectors"
    )
    created_at: str
    updated_at: str | None
    duplicate: bool = False

    @classmethod
    def of(cls, d: DocumentInfo, *, duplicate: bool = False) -> DocumentOut:
        return cls(
            id=d.id,
            collection_id=d.collection_id,
            title=d.title,
            filename=d.filename,
            mime=d.mime,
            content_hash=d.content_hash,
            size_bytes=d.size_bytes,
            page_count=d.page_count,
            chunk_count=d.chunk_count,
            status=d.status,
            progress=d.progress,
            error_code=d.error_code,
            error_message=d.error_message,
            version=d.version,
            pending_version=d.pending_version,
            embedded_chunks=d.embedded_chunks,
            created_at=d.created_at,
            updated_at=d.updated_at,
            duplicate=duplicate,
        )


class SearchIn(BaseModel):
    query: str = Field(min_length=1, max_length=2000)
    collections: list[str] = Field(default_factory=lambda: ["default"], min_length=1, max_length=20)
    limit: int = Field(default=10, ge=1, le=100)


class HitOut(BaseModel):
    chunk_id: int
    document_id: UUID
    document_title: str
    document_version: int
    collection_id: UUID
    text: str
    heading_path: list[str]
    page_start: int | None
    page_end: int | None
    start: int
    end: int
    score: float
    dense_score: float | None
    lexical_score: float | None
    rerank_score: float | None = None

    @classmethod
    def of(cls, h: Hit) -> HitOut:
        return cls(
            chunk_id=h.chunk_id,
            document_id=h.document_id,
            document_title=h.document_title,
            document_version=h.document_version,
            collection_id=h.collection_id,
            text=h.body,
            heading_path=list(h.heading_path),
            page_start=h.page_start,
            page_end=h.page_end,
            start=h.start,
            end=h.end,
            score=round(h.score, 6),
            dense_score=h.dense_score,
            lexical_score=h.lexical_score,
            rerank_score=h.rerank_score,
        )


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    collections: list[str] = Field(default_factory=lambda: ["default"], min_length=1, max_length=20)


class CitationOut(BaseModel):
    document_id: UUID
    document_title: str
    chunk_id: int
    page: int | None
    quote: str
    start: int
    end: int
    heading_path: list[str]


class SentenceOut(BaseModel):
    text: str
    score: float
    citations: list[CitationOut]


class AskOut(BaseModel):
    question: str
    answered: bool
    answer: str
    reason: str | None
    sentences: list[SentenceOut]
    passages: list[HitOut]

    @classmethod
    def of(cls, a: Answer) -> AskOut:
        return cls(
            question=a.question,
            answered=a.answered,
            answer=a.text,
            reason=a.reason,
            sentences=[
                SentenceOut(
                    text=s.text,
                    score=s.score,
                    citations=[
                        CitationOut(
                            document_id=c.document_id,
                            document_title=c.document_title,
                            chunk_id=c.chunk_id,
                            page=c.page,
                            quote=c.quote,
                            start=c.start,
                            end=c.end,
                            heading_path=list(c.heading_path),
                        )
                        for c in s.citations
                    ],
                )
                for s in a.sentences
            ],
            passages=[HitOut.of(h) for h in a.passages],
        )
