"""Chat completions from an OpenAI-compatible ``POST /v1/chat/completions`` server: OpenAI,
vLLM, llama.cpp's server, Ollama, LiteLLM, ...

Request ``{"model", "messages", "max_tokens", "temperature", "stream"}``. A whole answer is
``choices[0].message.content``; a streamed one is Server-Sent Events, ``data: {json}`` lines
whose ``choices[0].delta.content`` are the deltas, ending with ``data: [DONE]``. Retries,
timeouts and typed failures are ``docrag.providers.http``'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from docrag.errors import GeneratorFailed, GeneratorUnavailable
from docrag.providers.generation import Message, TextStream
from docrag.providers.http import JsonClient

PATH = "/v1/chat/completions"


class OpenAIChatGenerator:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._client = JsonClient(
            base_url,
            api_key=api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            what="LLM server",
            unavailable=GeneratorUnavailable,
            refused=GeneratorFailed,
        )

    @property
    def model_id(self) -> str:
        return f"openai:{self.model}"

    def _payload(self, messages: Sequence[Message], stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": self._max_tokens,
            "temperature": self._temperature,
            "stream": stream,
        }

    def complete(self, messages: Sequence[Message]) -> str:
        return _content(self._client.post(PATH, self._payload(messages, stream=False)))

    def stream(self, messages: Sequence[Message]) -> TextStream:
        response = self._client.open_stream(PATH, self._payload(messages, stream=True))
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            # A server that ignores "stream" answers with one JSON completion: one delta.
            try:
                text = _content(json.loads(response.read()))
            finally:
                response.close()
            return TextStream(iter([text]))
        return TextStream(_deltas(self._client.iter_lines(response)), response.close)

    def close(self) -> None:
        self._client.close()


def _content(answer: Any) -> str:
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise GeneratorFailed(f"LLM server answered in an unknown format: {exc!r}") from exc
    if content is not None and not isinstance(content, str):
        raise GeneratorFailed("LLM server answered with non-text content")
    return content or ""


def _deltas(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, ": comments", "event:" and "id:" lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise GeneratorFailed(f"LLM server streamed invalid JSON: {data[:200]!r}") from exc
        if isinstance(chunk, dict) and "error" in chunk:
            raise GeneratorFailed(f"LLM server failed mid-answer: {str(chunk['error'])[:300]}")
        try:
            choices = chunk["choices"]
            delta = choices[0].get("delta", {}).get("content") if choices else None
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GeneratorFailed(f"LLM server streamed an unknown format: {exc!r}") from exc
        if isinstance(delta, str) and delta:
            yield delta
