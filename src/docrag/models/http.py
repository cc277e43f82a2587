"""A small JSON-over-HTTP client for model servers: retries with backoff, typed failures.

Retried: timeouts, connection errors, 429 and 5xx (honouring a numeric ``Retry-After``, at most
30 s). Any other 4xx (a wrong URL, model or key) fails at once: another try can't fix it.
Every failure is a :class:`~docrag.errors.Unavailable` naming the endpoint and the cause.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from docrag.errors import Unavailable

_MAX_RETRY_AFTER = 30.0


def endpoint(base_url: str, path: str) -> str:
    """``base_url`` + ``path``; a base that already ends in ``/v1`` (as OpenAI's clients take it)
    is not given a second one."""
    base = base_url.rstrip("/")
    if path.startswith("/v1/") and base.endswith("/v1"):
        path = path[3:]
    return base + path


class JsonClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        what: str = "model server",
    ) -> None:
        self.base_url = base_url
        self._retries = retries
        self._backoff = backoff
        self._timeout = timeout
        self._what = what
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON and return the decoded answer.

        :raises Unavailable: when every try failed, or at once on a non-retryable answer.
        """
        url = endpoint(self.base_url, path)
        cause = ""
        for attempt in range(self._retries + 1):
            delay = self._backoff * 2**attempt
            try:
                response = self._client.post(url, json=payload)
            except httpx.TimeoutException:
                cause = f"no answer within {self._timeout:g} s"
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise Unavailable(f"{self._what} at {url} answered with invalid JSON") from exc
                cause = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise Unavailable(f"{self._what} at {url} refused the request: {cause}")
                delay = max(delay, _retry_after(response))
            if attempt < self._retries:
                time.sleep(delay)
        raise Unavailable(f"{self._what} at {url} failed after {self._retries + 1} tries: {cause}")

    def close(self) -> None:
        self._client.close()


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "0")), _MAX_RETRY_AFTER)
    except ValueError:  # an HTTP date: fall back to our own backoff
        return 0.0
