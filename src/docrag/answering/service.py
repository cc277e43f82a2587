"""One ask, start to end: the caller's collections, the conversation's follow-up resolved, the
configured answerer, and the answer stored (every answer gets an id, for feedback).

:meth:`AskService.prepare` does everything that can fail because of the request (an unknown
collection or conversation) before anything is streamed, so those stay typed 4xx answers.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from uuid import UUID

from docrag import tracing
from docrag.answering.events import Answerer, Finished, Started, Token
from docrag.answering.quality import observe_answer
from docrag.answering.rewrite import resolve
from docrag.domain import Answer
from docrag.domain.records import StoredAnswer
from docrag.settings import Settings
from docrag.store.protocol import AnswerRecords, CollectionStore


@dataclass(frozen=True, slots=True)
class PreparedAsk:
    tenant_id: UUID
    collections: tuple[str, ...]
    collection_ids: tuple[UUID, ...]
    question: str
    resolved_question: str
    conversation_id: UUID | None
    #: Who asks (a principal's id, recorded on the answer: migration 0120), if known.
    created_by: UUID | None = None


@dataclass(frozen=True, slots=True)
class Asked:
    """The final answer and its stored record (id, turn)."""

    answer: Answer
    stored: StoredAnswer


class AskService:
    def __init__(
        self, store: CollectionStore, answers: AnswerRecords, answerer: Answerer, settings: Settings
    ) -> None:
        self._store = store
        self._answers = answers
        self._answerer = answerer
        self._settings = settings

    def prepare(
        self,
        tenant_id: UUID,
        collections: Sequence[str],
        question: str,
        conversation_id: UUID | None = None,
        *,
        created_by: UUID | None = None,
    ) -> PreparedAsk:
        """:raises NotFound: an unknown collection or conversation (of this tenant)."""
        resolved = question
        if conversation_id is not None:  # first: a stranger learns nothing about collections
            history = self._answers.history(tenant_id, conversation_id, self._settings.conversation_turns)
            resolved = resolve(question, history)
        names = tuple(dict.fromkeys(collections))
        ids = tuple(self._store.collection_ids(tenant_id, names))
        return PreparedAsk(tenant_id, names, ids, question, resolved, conversation_id, created_by)

    def run(
        self, ask: PreparedAsk, *, incremental: bool = True
    ) -> Generator[Started | Token | Asked, None, None]:
        """The answerer's events, its final answer replaced by the stored :class:`Asked` (all in
        an ``answer`` span while tracing; close the iterator if it is left unfinished)."""
        attributes: tracing.Attributes = {
            "docrag.answerer": self._answerer.name,
            "docrag.collections": len(ask.collection_ids),
            "docrag.follow_up": ask.conversation_id is not None,
            "docrag.incremental": incremental,
        }
        return tracing.traced(
            "answer", self._run(ask, incremental), attributes if tracing.enabled() else None
        )

    def _run(self, ask: PreparedAsk, incremental: bool) -> Generator[Started | Token | Asked, None, None]:
        events = self._answerer.stream(
            ask.tenant_id, ask.collection_ids, ask.resolved_question, incremental=incremental
        )
        for event in events:
            if not isinstance(event, Finished):
                yield event
                continue
            answer = replace(event.answer, question=ask.question)
            observe_answer(answer)
            tracing.annotate({"docrag.answered": answer.answered, "docrag.sentences": len(answer.sentences)})
            stored = self._answers.save(
                ask.tenant_id,
                answer,
                resolved_question=ask.resolved_question,
                collections=ask.collections,
                conversation_id=ask.conversation_id,
                created_by=ask.created_by,
            )
            yield Asked(answer, stored)

    def ask(self, ask: PreparedAsk) -> Asked:
        with closing(self.run(ask, incremental=False)) as events:
            for event in events:
                if isinstance(event, Asked):
                    return event
        raise RuntimeError("an answerer ended without an answer")
