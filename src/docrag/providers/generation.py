"""The generator protocol: chat messages in, text out, whole or as a stream of deltas.

``DOCRAG_GENERATOR=extractive`` (the default) uses no generator at all: the extractive answerer
quotes retrieved sentences. The others are built by ``docrag.providers.generators``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


class TextStream:
    """Text deltas of an answer being written, from a request already accepted by the model.

    A provider opens the request (with its retries) before returning one, so a model that is
    down fails the call itself, not the first read; ``close`` lets go of the connection early.
    """

    def __init__(self, deltas: Iterator[str], close: Callable[[], None] | None = None) -> None:
        self._deltas = deltas
        self._close = close

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        if self._close is not None:
            self._close()


class Generator(Protocol):
    @property
    def model_id(self) -> str:
        """Names the model in answers (``openai:<model>``, ``llama_cpp:<file>``)."""
        ...

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole answer.

        :raises docrag.errors.GeneratorUnavailable: the model could not answer (after retries).
        :raises docrag.errors.GeneratorFailed: the model refused the request or answered garbage.
        """
        ...

    def stream(self, messages: Sequence[Message]) -> TextStream:
        """The answer as it is written; raises as :meth:`complete` does, on opening or while read."""
        ...
