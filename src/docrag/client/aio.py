"""The asynchronous client: ``async with AsyncClient(url, key) as docrag: await docrag.ask("...")``.

The same methods as :class:`docrag.client.sync.Client`, awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from uuid import UUID

import httpx
from httpx_sse import aconnect_sse

from docrag.api.schemas import (
    AskOut,
    CollectionOut,
    ConversationOut,
    DocumentOut,
    FeedbackOut,
    FeedbackSummaryOut,
    SearchOut,
    StoredAnswerOut,
)
from docrag.client import calls
from docrag.client.common import FINAL, base_headers, unreachable, wait_timeout
from docrag.client.events import Answered, StreamBroken, StreamEvent, parse_event
from docrag.client.retry import UNSENT, RetryPolicy
from docrag.client.upload import Progress, ProgressReader, filename_of

T = TypeVar("T")


class AsyncClient:
    """A DocRAG server's API, typed with the server's own models; errors are :mod:`docrag.errors`'."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        *,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=base_headers(key), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- sending ---------------------------------------------------------------------------

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries (429/503 after Retry-After, unsent connections); raise typed errors."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, path, **kwargs)
            except UNSENT as exc:
                wait = self.retry.wait_after(attempt, None)
                if wait is None:
                    raise unreachable(self._http.base_url, exc) from exc
                await asyncio.sleep(wait)
                continue
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url, exc) from exc
            if response.status_code < 400:
                return response
            wait = self.retry.wait_after(attempt, response)
            if wait is None:
                raise calls.error_of(response)
            await asyncio.sleep(wait)

    async def _run(self, call: calls.Call[T]) -> T:
        return call.read(await self.request(call.method, call.path, json=call.json, params=call.params))

    # -- resources -------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return await self._run(calls.health())

    async def collections(self) -> list[CollectionOut]:
        return await self._run(calls.list_collections())

    async def collection(self, name: str) -> CollectionOut:
        return await self._run(calls.get_collection(name))

    async def create_collection(self, name: str) -> CollectionOut:
        return await self._run(calls.create_collection(name))

    async def delete_collection(self, name: str) -> None:
        await self._run(calls.delete_collection(name))

    async def documents(self, collection: str, *, limit: int = 100, offset: int = 0) -> list[DocumentOut]:
        """One page of the collection's documents."""
        return await self._run(calls.list_documents(collection, limit=limit, offset=offset))

    async def iter_documents(self, collection: str, *, page_size: int = 100) -> AsyncIterator[DocumentOut]:
        """Every document of the collection, fetched a page at a time."""
        offset = 0
        while True:
            page = await self.documents(collection, limit=page_size, offset=offset)
            for document in page:
                yield document
            if len(page) < page_size:
                return
            offset += len(page)

    async def document(self, document_id: UUID | str) -> DocumentOut:
        return await self._run(calls.get_document(document_id))

    async def delete_document(self, document_id: UUID | str) -> None:
        await self._run(calls.delete_document(document_id))

    async def upload(
        self,
        collection: str,
        file: Path | str | BinaryIO,
        *,
        filename: str | None = None,
        title: str | None = None,
        wait: bool = False,
        progress: Progress | None = None,
    ) -> DocumentOut:
        """Upload a document (a path or an open binary file); ``progress(sent, total)`` as it goes.
        With ``wait``, the server answers once it is indexed (or raises its ingestion error)."""
        return await self._send_file(
            "POST", calls.upload_path(collection), file, filename, title, wait, progress
        )

    async def replace(
        self,
        document_id: UUID | str,
        file: Path | str | BinaryIO,
        *,
        filename: str | None = None,
        title: str | None = None,
        wait: bool = False,
        progress: Progress | None = None,
    ) -> DocumentOut:
        """Upload a new version of a document; the served one stays until it is indexed."""
        return await self._send_file(
            "PUT", calls.replace_path(document_id), file, filename, title, wait, progress
        )

    async def _send_file(
        self,
        method: str,
        path: str,
        file: Path | str | BinaryIO,
        filename: str | None,
        title: str | None,
        wait: bool,
        progress: Progress | None,
    ) -> DocumentOut:
        with ExitStack() as stack:
            source = stack.enter_context(open(file, "rb")) if isinstance(file, Path | str) else file
            reader = ProgressReader(source, progress)
            response = await self.request(
                method,
                path,
                files={"file": (filename_of(file, filename), reader)},
                data={"title": title} if title else None,
                params={"wait": "true"} if wait else None,
            )
        return calls.read_document(response)

    async def wait_for(
        self, document_id: UUID | str, *, timeout: float = 300.0, interval: float = 0.25
    ) -> DocumentOut:
        """Poll a document until it is indexed or failed; TimeoutError past ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            document = await self.document(document_id)
            if document.status in FINAL:
                return document
            if time.monotonic() > deadline:
                raise wait_timeout(document, timeout)
            await asyncio.sleep(interval)

    async def search(
        self, query: str, *, collections: Sequence[str] = ("default",), limit: int = 10
    ) -> SearchOut:
        return await self._run(calls.search(query, collections, limit))

    async def ask(
        self,
        question: str,
        *,
        collections: Sequence[str] = ("default",),
        conversation_id: UUID | str | None = None,
    ) -> AskOut:
        return await self._run(calls.ask(question, collections, conversation_id))

    async def ask_stream(
        self,
        question: str,
        *,
        collections: Sequence[str] = ("default",),
        conversation_id: UUID | str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """The answer as it is written: Started, TokenText..., then Answered (the whole answer)."""
        body = calls.ask_body(question, collections, conversation_id, stream=True)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with aconnect_sse(self._http, "POST", "/v1/ask", json=body) as source:
                    response = source.response
                    if response.status_code >= 400:
                        await response.aread()
                        wait = self.retry.wait_after(attempt, response)
                        if wait is None:
                            raise calls.error_of(response)
                        await asyncio.sleep(wait)
                        continue
                    answered = False
                    async for sse in source.aiter_sse():
                        event = parse_event(sse.event, sse.data)
                        if event is not None:
                            answered = answered or isinstance(event, Answered)
                            yield event
                    if not answered:
                        raise StreamBroken("the answer stream ended before the answer")
                    return
            except UNSENT as exc:
                wait = self.retry.wait_after(attempt, None)
                if wait is None:
                    raise unreachable(self._http.base_url, exc) from exc
                await asyncio.sleep(wait)
            except httpx.TransportError as exc:
                raise unreachable(self._http.base_url, exc) from exc

    async def answer(self, answer_id: UUID | str) -> StoredAnswerOut:
        return await self._run(calls.get_answer(answer_id))

    async def rate(self, answer_id: UUID | str, rating: str, comment: str | None = None) -> FeedbackOut:
        """Thumbs ``up`` or ``down``, with an optional comment."""
        return await self._run(calls.rate(answer_id, rating, comment))

    async def feedback_summary(self) -> FeedbackSummaryOut:
        return await self._run(calls.feedback_summary())

    async def create_conversation(self, title: str | None = None) -> ConversationOut:
        return await self._run(calls.create_conversation(title))

    async def conversation(self, conversation_id: UUID | str) -> ConversationOut:
        return await self._run(calls.get_conversation(conversation_id))
