"""Every API call as data (method, path, body, how to read the answer), shared by the sync and
async clients so that they differ only in how they send it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from uuid import UUID

import httpx
from pydantic import TypeAdapter

from docrag import errors
from docrag.api.schemas import (
    AskIn,
    AskOut,
    CollectionIn,
    CollectionOut,
    ConversationIn,
    ConversationOut,
    DocumentOut,
    FeedbackIn,
    FeedbackOut,
    FeedbackSummaryOut,
    SearchIn,
    SearchOut,
    StoredAnswerOut,
)
from docrag.errors import DocRAGError, error_for

T = TypeVar("T")

#: Statuses a call is tried again for (after the server's Retry-After, or a backoff).
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)


def _model(adapter: TypeAdapter[T]) -> Callable[[httpx.Response], T]:
    return lambda response: adapter.validate_json(response.content)


def _nothing(_: httpx.Response) -> None:
    return None


_COLLECTION = TypeAdapter(CollectionOut)
_COLLECTIONS = TypeAdapter(list[CollectionOut])
_DOCUMENT = TypeAdapter(DocumentOut)
_DOCUMENTS = TypeAdapter(list[DocumentOut])
_SEARCH = TypeAdapter(SearchOut)
_ASK = TypeAdapter(AskOut)
_ANSWER = TypeAdapter(StoredAnswerOut)
_CONVERSATION = TypeAdapter(ConversationOut)
_FEEDBACK = TypeAdapter(FeedbackOut)
_SUMMARY = TypeAdapter(FeedbackSummaryOut)
_HEALTH = TypeAdapter(dict[str, Any])


_BY_STATUS: dict[int, type[DocRAGError]] = {
    400: errors.BadInput,
    401: errors.Unauthenticated,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.FileTooLarge,
    415: errors.UnsupportedFileType,
    422: errors.InvalidRequest,
    429: errors.RateLimited,
    502: errors.GeneratorFailed,
    503: errors.Unavailable,
}


def error_of(response: httpx.Response) -> DocRAGError:
    """The typed error for an error answer: chosen by its ``code``, with its status and Retry-After."""
    code, message = "http_error", response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = response.json()
        code, message = str(body["error"]["code"]), str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        if response.status_code == 429:
            code = "rate_limited"
        elif response.status_code == 503:
            code = "unavailable"
    exc = error_for(code, message)
    if type(exc) is DocRAGError and response.status_code in _BY_STATUS:
        # A code shared by one class (NotFound's collection_not_found...): that class, by status.
        exc = _BY_STATUS[response.status_code](message, code=code)
    exc.status = response.status_code
    exc.retry_after = retry_after(response)
    return exc


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health/ready", _model(_HEALTH))


def list_collections() -> Call[list[CollectionOut]]:
    return Call("GET", "/v1/collections", _model(_COLLECTIONS))


def get_collection(name: str) -> Call[CollectionOut]:
    return Call("GET", f"/v1/collections/{_segment(name)}", _model(_COLLECTION))


def create_collection(name: str) -> Call[CollectionOut]:
    body = CollectionIn(name=name).model_dump(mode="json")
    return Call("POST", "/v1/collections", _model(_COLLECTION), json=body)


def delete_collection(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/collections/{_segment(name)}", _nothing)


def list_documents(collection: str, *, limit: int = 100, offset: int = 0) -> Call[list[DocumentOut]]:
    params = {"limit": limit, "offset": offset}
    return Call("GET", f"/v1/collections/{_segment(collection)}/documents", _model(_DOCUMENTS), params=params)


def get_document(document_id: UUID | str) -> Call[DocumentOut]:
    return Call("GET", f"/v1/documents/{UUID(str(document_id))}", _model(_DOCUMENT))


def delete_document(document_id: UUID | str) -> Call[None]:
    return Call("DELETE", f"/v1/documents/{UUID(str(document_id))}", _nothing)


def upload_path(collection: str) -> str:
    return f"/v1/collections/{_segment(collection)}/documents"


def replace_path(document_id: UUID | str) -> str:
    return f"/v1/documents/{UUID(str(document_id))}"


def read_document(response: httpx.Response) -> DocumentOut:
    return _DOCUMENT.validate_json(response.content)


def search(query: str, collections: Sequence[str], limit: int) -> Call[SearchOut]:
    body = SearchIn(query=query, collections=list(collections), limit=limit).model_dump(mode="json")
    return Call("POST", "/v1/search", _model(_SEARCH), json=body)


def ask_body(
    question: str, collections: Sequence[str], conversation_id: UUID | str | None, *, stream: bool
) -> dict[str, Any]:
    conversation = UUID(str(conversation_id)) if conversation_id is not None else None
    body = AskIn(
        question=question, collections=list(collections), conversation_id=conversation, stream=stream
    )
    return body.model_dump(mode="json")


def ask(question: str, collections: Sequence[str], conversation_id: UUID | str | None) -> Call[AskOut]:
    body = ask_body(question, collections, conversation_id, stream=False)
    return Call("POST", "/v1/ask", _model(_ASK), json=body)


def get_answer(answer_id: UUID | str) -> Call[StoredAnswerOut]:
    return Call("GET", f"/v1/answers/{UUID(str(answer_id))}", _model(_ANSWER))


def rate(answer_id: UUID | str, rating: str, comment: str | None) -> Call[FeedbackOut]:
    body = FeedbackIn(rating=rating, comment=comment).model_dump(mode="json")
    return Call("POST", f"/v1/answers/{UUID(str(answer_id))}/feedback", _model(_FEEDBACK), json=body)


def feedback_summary() -> Call[FeedbackSummaryOut]:
    return Call("GET", "/v1/feedback/summary", _model(_SUMMARY))


def create_conversation(title: str | None) -> Call[ConversationOut]:
    body = ConversationIn(title=title).model_dump(mode="json")
    return Call("POST", "/v1/conversations", _model(_CONVERSATION), json=body)


def get_conversation(conversation_id: UUID | str) -> Call[ConversationOut]:
    return Call("GET", f"/v1/conversations/{UUID(str(conversation_id))}", _model(_CONVERSATION))


def _segment(name: str) -> str:
    """A name as one path segment: a '/' or '..' can't reach another route."""
    from urllib.parse import quote

    return quote(name, safe="")
