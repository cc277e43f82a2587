"""What an answerer emits while it answers, and the protocol every answerer follows.

An answerer yields :class:`Started` once retrieval is done and the model (if any) has accepted
the request, then :class:`Token` for each piece of answer text that passed every check, then
one :class:`Finished` with the whole answer: sentences, citations and verdicts. A plain ask
is the same stream, read to the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from docrag.domain import Answer, Hit


@dataclass(frozen=True, slots=True)
class Started:
    passages: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class Token:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    answer: Answer


AnswerEvent = Started | Token | Finished


class Answerer(Protocol):
    @property
    def name(self) -> str:
        """``extractive``, or the generator's model id."""
        ...

    def ask(self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str) -> Answer:
        """The final answer of :meth:`stream`."""
        ...

    def stream(
        self, tenant_id: UUID, collection_ids: Sequence[UUID], question: str, *, incremental: bool = True
    ) -> Iterator[AnswerEvent]:
        """Answer ``question`` from the caller's collections. ``incremental``: the caller reads
        tokens as they come (a generator then streams from its model; otherwise it may not).

        :raises docrag.errors.DocRAGError: typed failures (a model down, a collection's model mismatch).
        """
        ...


def final(events: Iterator[AnswerEvent]) -> Answer:
    """The answer at the end of a stream."""
    for event in events:
        if isinstance(event, Finished):
            return event.answer
    raise RuntimeError("an answerer ended without an answer")
