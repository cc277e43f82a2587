"""A small JSON-over-HTTP client for model servers: retries with backoff, typed failures.

Retried: timeouts, connection errors, 429 and 5xx (honouring a numeric ``Retry-After``, at most
30 s). Any other 4xx (a wrong URL, model or key) fails at once: another try can't fix it.
A failure after every try is ``unavailable`` (by default :class:`~docrag.errors.Unavailable`), a
refusal or an unreadable answer is ``refused`` (the same by default); both name the endpoint and
the cause. :meth:`JsonClient.open_stream` retries the same way until a response starts; once a
streamed body is being read, a failure can't be retried without repeating what was sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from docrag.errors import DocRAGError, Unavailable

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
        unavailable: type[DocRAGError] = Unavailable,
        refused: type[DocRAGError] = Unavailable,
    ) -> None:
        self.base_url = base_url
        self._retries = retries
        self._backoff = backoff
        self._timeout = timeout
        self._what = what
        self._unavailable = unavailable
        self._refused = refused
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON and return the decoded answer.

        :raises Unavailable: (or the client's ``unavailable``) when every try failed.
        :raises Unavailable: (or the client's ``refused``) at once on a non-retryable answer.
        """
        response = self._send(path, payload, stream=False)
        try:
            return response.json()
        except ValueError as exc:
            raise self._refused(f"{self._what} at {response.url} answered with invalid JSON") from exc

    def open_stream(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        """POST ``payload`` and return the successful response with its body unread (the caller
        reads it with :func:`iter_lines` and closes it); retried like :meth:`post` until then."""
        return self._send(path, payload, stream=True)

    def iter_lines(self, response: httpx.Response) -> Iterator[str]:
        """The lines of a streamed body; a timeout or a broken connection while reading is typed."""
        try:
            yield from response.iter_lines()
        except httpx.TimeoutException as exc:
            raise self._unavailable(
                f"{self._what} at {response.url} stopped sending for {self._timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise self._unavailable(
                f"{self._what} at {response.url} broke off: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            response.close()

    def _send(self, path: str, payload: dict[str, Any], *, stream: bool) -> httpx.Response:
        url = endpoint(self.base_url, path)
        cause = ""
        for attempt in range(self._retries + 1):
            delay = self._backoff * 2**attempt
            try:
                request = self._client.build_request("POST", url, json=payload)
                response = self._client.send(request, stream=stream)
            except httpx.TimeoutException:
                cause = f"no answer within {self._timeout:g} s"
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return response
                if stream:
                    response.read()
                    response.close()
                cause = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise self._refused(f"{self._what} at {url} refused the request: {cause}")
                delay = max(delay, _retry_after(response))
            if attempt < self._retries:
                time.sleep(delay)
        raise self._unavailable(f"{self._what} at {url} failed after {self._retries + 1} tries: {cause}")

    def close(self) -> None:
        self._client.close()


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "0")), _MAX_RETRY_AFTER)
    except ValueError:  # an HTTP date: fall back to our own backoff
        return 0.0
