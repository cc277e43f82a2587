"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from uuid import UUID

from fastapi import UploadFile
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from docrag.api.inputs import Text, storable
from docrag.domain import DocumentStatus

if TYPE_CHECKING:  # the client imports these bodies: not the answering service (numpy, BM25)
    from docrag.answering.service import Asked

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class RequestBody(BaseModel):
    """A request body: a field the schema does not name is refused (422), not ignored."""

    model_config = ConfigDict(extra="forbid")


class CollectionIn(RequestBody):
    name: Text = Field(pattern=NAME_PATTERN, description="Letters, digits, '_', '.', '-'; up to 100")


class CollectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    embedding_model: str
    embedding_dim: int
    document_count: int


class RetentionIO(RequestBody):
    """A collection's retention (issue 21.4): what `docrag retention` purges, and when."""

    documents_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        strict=True,  # true is not a number of days
        description="Delete documents whose served version is older; null: keep",
    )
    answers_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        strict=True,
        description="Delete answers asked of this collection, with their feedback, once older (null: keep)",
    )


class PiiIO(RequestBody):
    """A collection's PII redaction (issue 21.2, docs/pii.md), for documents indexed from now on."""

    redact: bool = Field(
        strict=True,
        description="Replace e-mails, phone numbers, card numbers, IBANs and national ids with"
        " [EMAIL], [PHONE], [CARD], [IBAN], [NATIONAL_ID] before chunking",
    )
    keep_original: Literal["encrypted", "drop"] = Field(
        default="drop",
        description="With redact: keep the uploaded file encrypted (its tenant's data key), or drop it",
    )


class DocumentForm(RequestBody):
    """The multipart form of an upload or a new version: one file part, an optional title."""

    file: UploadFile = Field(
        description="The document: PDF, Office, OpenDocument, CSV, e-mail, EPUB, RTF, JSON, HTML, Markdown "
        "or text (docs/formats.md)"
    )
    title: Text | None = Field(default=None, max_length=500)

    @field_validator("file")
    @classmethod
    def _storable_filename(cls, file: UploadFile) -> UploadFile:
        if file.filename is not None:
            storable(file.filename)
        return file


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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


class SearchIn(RequestBody):
    query: Text = Field(min_length=1, max_length=2000)
    collections: list[Text] = Field(default_factory=lambda: ["default"], min_length=1, max_length=20)
    limit: int = Field(default=10, ge=1, le=100, strict=True)  # true is not a count


class BoxOut(BaseModel):
    """Where an OCR'd line of the hit sits: its page, and its pixel box (left, top, right,
    bottom) on that page's image of ``width`` x ``height``; ``start``/``end``: the line's
    offsets in the document's text."""

    model_config = ConfigDict(from_attributes=True)

    page: int
    box: tuple[int, int, int, int]
    width: int
    height: int
    start: int
    end: int


class HitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    chunk_id: int
    document_id: UUID
    document_title: str
    document_version: int
    collection_id: UUID
    text: str = Field(validation_alias=AliasChoices("text", "body"))  # a Hit's body
    heading_path: list[str]
    page_start: int | None
    page_end: int | None
    start: int
    end: int
    score: float
    dense_score: float | None
    lexical_score: float | None
    rerank_score: float | None = None
    #: OCR'd text only (docs/ocr-and-tables.md): where each of its lines sits on its page.
    boxes: list[BoxOut] = []

    @field_validator("score")
    @classmethod
    def _six_places(cls, score: float) -> float:
        return round(score, 6)


class SearchOut(BaseModel):
    query: str
    hits: list[HitOut]


class AskIn(RequestBody):
    question: Text = Field(min_length=1, max_length=2000)
    collections: list[Text] = Field(default_factory=lambda: ["default"], min_length=1, max_length=20)
    conversation_id: UUID | None = Field(
        default=None, description="Ask as the next turn of this conversation: a follow-up is resolved first"
    )
    stream: bool = Field(
        default=False, description="Answer as Server-Sent Events (as does 'Accept: text/event-stream')"
    )


class CitationOut(BaseModel):
    document_id: UUID
    document_title: str
    document_version: int
    chunk_id: int
    page: int | None
    quote: str = Field(description="Exactly the document's text[start:end]")
    start: int
    end: int
    heading_path: list[str]
    #: OCR'd text only (docs/ocr-and-tables.md): where each line holding the quote sits.
    boxes: list[BoxOut] = Field(
        default=[], description="OCR'd text: the page and pixel box of each line that holds the quote"
    )


class SentenceOut(BaseModel):
    text: str
    score: float
    support: float | None = Field(description="Groundedness: support by the cited passages, 0..1")
    verdict: Literal["supported", "unsupported"] | None
    citations: list[CitationOut]


class AskOut(BaseModel):
    answer_id: UUID
    conversation_id: UUID | None
    turn: int | None
    question: str
    resolved_question: str = Field(description="The question as retrieved with (a follow-up made standalone)")
    answered: bool
    answer: str
    reason: str | None
    generator: str
    answerability: float | None = Field(
        default=None,
        description="Extractive answers: probability that the best sentence answers (abstains under"
        " DOCRAG_ANSWERABILITY_THRESHOLD, reason on_topic_not_answered)",
    )
    sentences: list[SentenceOut]
    passages: list[HitOut]
    source_deleted: bool = Field(
        description="Text it cited was deleted while it was being answered: nothing of it is shown"
    )

    @classmethod
    def of(cls, asked: Asked) -> AskOut:
        a, stored = asked.answer, asked.stored
        gone = stored.source_deleted
        return cls(
            answer_id=stored.id,
            conversation_id=stored.conversation_id,
            turn=stored.turn,
            question=stored.question,
            resolved_question=stored.resolved_question,
            answered=a.answered,
            answer=stored.answer if gone else a.text,
            reason=a.reason,
            generator=a.generator,
            answerability=a.answerability,
            sentences=[SentenceOut.model_validate(r) for r in stored.sentences],
            passages=[] if gone else [HitOut.model_validate(h) for h in a.passages],
            source_deleted=gone,
        )


class StoredAnswerOut(BaseModel):
    """An answer as it was given (passages are not kept)."""

    model_config = ConfigDict(from_attributes=True)

    answer_id: UUID = Field(validation_alias=AliasChoices("answer_id", "id"))  # a StoredAnswer's id
    conversation_id: UUID | None
    turn: int | None
    question: str
    resolved_question: str
    answered: bool
    answer: str
    reason: str | None
    generator: str
    collections: list[str]
    sentences: list[SentenceOut]
    created_at: str
    source_deleted: bool = Field(
        description="Text this answer cited was deleted since: its answer and sentences are removed"
    )


class ConversationIn(RequestBody):
    title: Text | None = Field(default=None, max_length=200)


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    title: str | None
    created_at: str
    updated_at: str
    turns: list[StoredAnswerOut]


class FeedbackIn(RequestBody):
    # A plain string, so that another value is the route's 422 invalid_rating rather than a
    # generic invalid_request; the schema still lists the two values a client may send.
    rating: Text = Field(
        description="up or down (anything else: 422 invalid_rating)",
        max_length=20,
        json_schema_extra={"enum": ["up", "down"]},
    )
    comment: Text | None = Field(default=None, max_length=4000)


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    answer_id: UUID
    rating: Literal["up", "down"]
    comment: str | None
    created_at: str
    updated_at: str


class FeedbackSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    answers: int
    rated: int
    up: int
    down: int
    satisfaction: float | None = Field(description="up / (up + down); null before any rating")
