"""What the sync and async clients share besides the calls."""

from __future__ import annotations

import httpx

from docrag.api.schemas import DocumentOut
from docrag.errors import ServerUnreachable

FINAL = frozenset({"indexed", "failed"})


def base_headers(key: str | None) -> dict[str, str]:
    headers = {"User-Agent": "docrag-client/0.1", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def unreachable(url: httpx.URL, exc: Exception) -> ServerUnreachable:
    return ServerUnreachable(f"no answer from the DocRAG server at {url}: {exc.__class__.__name__}: {exc}")


def wait_timeout(document: DocumentOut, timeout: float) -> TimeoutError:
    return TimeoutError(f"document {document.id} is still {document.status} after {timeout:.0f}s")
