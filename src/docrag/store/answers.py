"""The SQL of conversations, stored answers and feedback (migration 0005).

Every statement is scoped by tenant in its own WHERE clause: an id of another tenant's
conversation or answer finds nothing, which callers report as 404.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from docrag.domain import Answer
from docrag.domain.records import (
    Conversation,
    Feedback,
    FeedbackSummary,
    Rating,
    StoredAnswer,
    sentence_record,
)
from docrag.errors import NotFound
from docrag.instruments import feedback as feedback_counter
from docrag.store.erasure import settle_new_answer
from docrag.store.postgres import Store

_ANSWER_COLUMNS = (
    "id, conversation_id, turn, question, resolved_question, answer, answered, reason, generator,"
    " collections, sentences, created_at, source_deleted"
)


# A key scoped to collections (store/tenancy.py) sees only the answers over them, and the
# conversations whose every turn is (migration 0100); the others are "not found".
_ANSWER_IN_SCOPE = "docrag_answer_in_scope(tenant_id, collections)"
_CONVERSATION_IN_SCOPE = "docrag_conversation_in_scope(tenant_id, id)"


def _conversation_missing(conversation_id: UUID) -> NotFound:
    return NotFound(f"conversation {conversation_id} not found", code="conversation_not_found")


def _answer_missing(answer_id: UUID) -> NotFound:
    return NotFound(f"answer {answer_id} not found", code="answer_not_found")


class AnswerStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- conversations -------------------------------------------------------------------

    def create_conversation(
        self, tenant_id: UUID, title: str | None, *, created_by: UUID | None = None
    ) -> Conversation:
        """A new conversation; ``created_by`` is the principal asking (migration 0120)."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO conversations (tenant_id, title, created_by) VALUES (%s, %s, %s)"
                " RETURNING id, title, created_at, updated_at",
                (tenant_id, title, created_by),
            ).fetchone()
        assert row is not None
        return _conversation(row)

    def conversation(self, tenant_id: UUID, conversation_id: UUID) -> Conversation:
        """The conversation with every turn, oldest first."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT id, title, created_at, updated_at FROM conversations"
                f" WHERE tenant_id = %s AND id = %s AND {_CONVERSATION_IN_SCOPE}",
                (tenant_id, conversation_id),
            ).fetchone()
            if row is None:
                raise _conversation_missing(conversation_id)
            turns = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE tenant_id = %s AND conversation_id = %s"
                " ORDER BY turn",
                (tenant_id, conversation_id),
            ).fetchall()
        return _conversation(row, tuple(_answer(t) for t in turns))

    def conversations(
        self, tenant_id: UUID, created_by: UUID | None, *, limit: int, offset: int
    ) -> list[Conversation]:
        """The conversations ``created_by`` started, the most recently continued first, without
        their turns (a count and the first question instead)."""
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at,"
                " (SELECT count(*) FROM answers a WHERE a.conversation_id = c.id) AS turn_count,"
                " (SELECT a.question FROM answers a WHERE a.conversation_id = c.id"
                "  ORDER BY a.turn LIMIT 1) AS first_question"
                " FROM conversations c WHERE c.tenant_id = %s AND c.created_by IS NOT DISTINCT FROM %s"
                " AND docrag_conversation_in_scope(c.tenant_id, c.id)"
                " ORDER BY c.updated_at DESC, c.id LIMIT %s OFFSET %s",
                (tenant_id, created_by, limit, offset),
            ).fetchall()
        return [
            replace(_conversation(r), turn_count=int(r["turn_count"]), first_question=r["first_question"])
            for r in rows
        ]

    def history(self, tenant_id: UUID, conversation_id: UUID, turns: int) -> list[StoredAnswer]:
        """The last ``turns`` turns, oldest first."""
        with self._store.connection(tenant_id) as conn:
            found = conn.execute(
                f"SELECT 1 FROM conversations WHERE tenant_id = %s AND id = %s AND {_CONVERSATION_IN_SCOPE}",
                (tenant_id, conversation_id),
            ).fetchone()
            if found is None:
                raise _conversation_missing(conversation_id)
            rows = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE tenant_id = %s AND conversation_id = %s"
                " ORDER BY turn DESC LIMIT %s",
                (tenant_id, conversation_id, turns),
            ).fetchall()
        return [_answer(r) for r in reversed(rows)]

    # -- answers -------------------------------------------------------------------------

    def save(
        self,
        tenant_id: UUID,
        answer: Answer,
        *,
        resolved_question: str,
        collections: Sequence[str],
        conversation_id: UUID | None = None,
        created_by: UUID | None = None,
    ) -> StoredAnswer:
        """Store an answer given, as the next turn of ``conversation_id`` when there is one
        (``created_by``: the principal who asked, migration 0120)."""
        values = (
            answer.question,
            resolved_question,
            answer.text,
            answer.answered,
            answer.reason,
            answer.generator,
            list(collections),
            Jsonb([sentence_record(s) for s in answer.sentences]),
        )
        with self._store.connection(tenant_id) as conn, conn.transaction():
            turn = None
            if conversation_id is not None:
                # The row lock orders concurrent asks in one conversation: turns stay 1, 2, 3...
                locked = conn.execute(
                    "UPDATE conversations SET updated_at = now()"
                    f" WHERE tenant_id = %s AND id = %s AND {_CONVERSATION_IN_SCOPE} RETURNING id",
                    (tenant_id, conversation_id),
                ).fetchone()
                if locked is None:
                    raise _conversation_missing(conversation_id)
                last = conn.execute(
                    "SELECT coalesce(max(turn), 0) AS n FROM answers WHERE conversation_id = %s",
                    (conversation_id,),
                ).fetchone()
                assert last is not None
                turn = int(last["n"]) + 1
            row = conn.execute(
                "INSERT INTO answers (tenant_id, conversation_id, turn, question, resolved_question, answer,"
                " answered, reason, generator, collections, sentences, created_by)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_ANSWER_COLUMNS}",
                (tenant_id, conversation_id, turn, *values, created_by),
            ).fetchone()
            assert row is not None
            if settle_new_answer(conn, tenant_id, row["id"]):  # its source went meanwhile
                row = conn.execute(
                    f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE id = %s", (row["id"],)
                ).fetchone()
        assert row is not None
        return _answer(row)

    def get(self, tenant_id: UUID, answer_id: UUID) -> StoredAnswer:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers"
                f" WHERE tenant_id = %s AND id = %s AND {_ANSWER_IN_SCOPE}",
                (tenant_id, answer_id),
            ).fetchone()
        if row is None:
            raise _answer_missing(answer_id)
        return _answer(row)

    # -- feedback ------------------------------------------------------------------------

    def rate(
        self,
        tenant_id: UUID,
        answer_id: UUID,
        key_id: UUID | None,
        rating: Rating,
        comment: str | None,
        *,
        user_id: UUID | None = None,
    ) -> Feedback:
        """Record (or replace) this key's (or, with ``user_id``, this user's) rating of the answer."""
        # One rating per answer and rater: a key's (migration 0005) or a user's (migration 0090).
        target = (
            "(answer_id, key_id)" if user_id is None else "(answer_id, user_id) WHERE user_id IS NOT NULL"
        )
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO feedback (tenant_id, answer_id, key_id, user_id, rating, comment)"
                " SELECT a.tenant_id, a.id, %s, %s, %s, %s FROM answers a"
                " WHERE a.tenant_id = %s AND a.id = %s"
                " AND docrag_answer_in_scope(a.tenant_id, a.collections)"
                f" ON CONFLICT {target} DO UPDATE SET rating = EXCLUDED.rating,"
                " comment = EXCLUDED.comment, updated_at = now()"
                " RETURNING answer_id, rating, comment, created_at, updated_at",
                (None if user_id else key_id, user_id, rating, comment, tenant_id, answer_id),
            ).fetchone()
        if row is None:
            raise _answer_missing(answer_id)
        feedback_counter().labels(rating).inc()
        return Feedback(
            answer_id=row["answer_id"],
            rating=row["rating"],
            comment=row["comment"],
            created_at=row["created_at"].isoformat(),
            updated_at=row["updated_at"].isoformat(),
        )

    def summary(self, tenant_id: UUID) -> FeedbackSummary:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM answers WHERE tenant_id = %(t)s) AS answers,"
                " count(DISTINCT answer_id) AS rated,"
                " count(*) FILTER (WHERE rating = 'up') AS up,"
                " count(*) FILTER (WHERE rating = 'down') AS down"
                " FROM feedback WHERE tenant_id = %(t)s",
                {"t": tenant_id},
            ).fetchone()
        assert row is not None
        return FeedbackSummary(int(row["answers"]), int(row["rated"]), int(row["up"]), int(row["down"]))


def _conversation(row: dict[str, Any], turns: tuple[StoredAnswer, ...] = ()) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"].isoformat(),
        updated_at=row["updated_at"].isoformat(),
        turns=turns,
    )


def _answer(row: dict[str, Any]) -> StoredAnswer:
    return StoredAnswer(
        id=row["id"],
        conversation_id=row["conversation_id"],
        turn=row["turn"],
        question=row["question"],
        resolved_question=row["resolved_question"],
        answer=row["answer"],
        answered=row["answered"],
        reason=row["reason"],
        generator=row["generator"],
        collections=tuple(row["collections"]),
        sentences=tuple(row["sentences"]),
        created_at=row["created_at"].isoformat(),
        source_deleted=row["source_deleted"],
    )
