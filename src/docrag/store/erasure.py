"""Deleted text leaves every copy: the stored answers that quote it, their feedback comments,
and the questions later turns derived from them (issue 22.2).

An answer is kept as a record when its source goes, but emptied: its text and sentences are
removed and ``source_deleted`` is set. One rule covers a deleted document, a deleted
collection and a replaced version alike: an answer is redacted when one of its citations of
the given documents quotes text that no document row holds any longer (the document is gone,
or its new version no longer contains the quote). Callers run :func:`redact_stale_answers`
in the transaction that removed the text, after the statement that removed it, so a
concurrent :func:`settle_new_answer` either sees the text gone or is seen by the redaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

# Answers (of one tenant) citing one of %(docs)s with a quote no document row holds.
_STALE = """
SELECT a.id, a.conversation_id, a.turn, a.answer, a.sentences FROM answers a
WHERE a.tenant_id = %(t)s AND NOT a.source_deleted AND {scope} AND EXISTS (
    SELECT 1 FROM jsonb_array_elements(a.sentences) s, jsonb_array_elements(s -> 'citations') c
    WHERE c ->> 'document_id' = ANY(%(docs)s) AND NOT EXISTS (
        SELECT 1 FROM documents d
        WHERE d.tenant_id = %(t)s AND d.id::text = c ->> 'document_id'
          AND strpos(d.text, c ->> 'quote') > 0))
FOR UPDATE OF a
"""

#: A comment quotes redacted text when it repeats this many of its words in a row, or one of
#: its tokens of at least MIN_ID_CHARS characters holding a digit (an id number, say).
SHINGLE_WORDS = 4
MIN_ID_CHARS = 6
_WORD = re.compile(r"[\w@+-]+(?:\.[\w@+-]+)*")


def redact_stale_answers(conn: psycopg.Connection[Any], tenant_id: UUID, document_ids: Sequence[UUID]) -> int:
    """Redact the tenant's answers that quote text of ``document_ids`` now gone.

    :returns: how many answers were redacted.
    """
    if not document_ids:
        return 0
    rows = conn.execute(
        _STALE.format(scope="TRUE"), {"t": tenant_id, "docs": [str(d) for d in document_ids]}
    ).fetchall()
    return _redact(conn, tenant_id, rows)


def collection_documents(conn: psycopg.Connection[Any], tenant_id: UUID, collection_id: UUID) -> list[UUID]:
    """The collection's documents, read before deleting it so their answers can be redacted after."""
    rows = conn.execute(
        "SELECT id FROM documents WHERE tenant_id = %s AND collection_id = %s", (tenant_id, collection_id)
    ).fetchall()
    return [UUID(str(r["id"])) for r in rows]


def settle_new_answer(conn: psycopg.Connection[Any], tenant_id: UUID, answer_id: UUID) -> bool:
    """Redact a just-written answer if text it cites went while it was being computed.

    Takes a share lock on the cited documents first: a delete or version switch running now
    either finished before (the quote is found missing here) or waits for this transaction
    and then finds the answer itself. :returns: whether the answer was redacted.
    """
    row = conn.execute(
        "SELECT array_agg(DISTINCT c ->> 'document_id') AS docs FROM answers a,"
        " jsonb_array_elements(a.sentences) s, jsonb_array_elements(s -> 'citations') c"
        " WHERE a.tenant_id = %s AND a.id = %s",
        (tenant_id, answer_id),
    ).fetchone()
    docs = list(row["docs"] or []) if row else []
    if not docs:
        return False
    conn.execute(
        "SELECT 1 FROM documents WHERE tenant_id = %s AND id::text = ANY(%s) FOR SHARE", (tenant_id, docs)
    )
    rows = conn.execute(
        _STALE.format(scope="a.id = %(answer)s"), {"t": tenant_id, "docs": docs, "answer": answer_id}
    ).fetchall()
    return _redact(conn, tenant_id, rows) > 0


def _redact(conn: psycopg.Connection[Any], tenant_id: UUID, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    ids = [r["id"] for r in rows]
    conn.execute(
        "UPDATE answers SET answer = '', sentences = '[]', source_deleted = true, redacted_at = now()"
        " WHERE tenant_id = %s AND id = ANY(%s)",
        (tenant_id, ids),
    )
    # Feedback keeps its rating; a comment on a redacted answer, or one quoting what it said, goes.
    quoting = _comments_quoting(conn, tenant_id, _shingles(rows))
    conn.execute(
        "UPDATE feedback SET comment = NULL, updated_at = now() WHERE tenant_id = %s"
        " AND comment IS NOT NULL AND (answer_id = ANY(%s) OR id = ANY(%s))",
        (tenant_id, ids, quoting),
    )
    # A follow-up's resolved question may carry words of the answer before it (rewrite.py).
    turns = [(r["conversation_id"], r["turn"]) for r in rows if r["conversation_id"] is not None]
    if turns:
        conn.execute(
            "UPDATE answers b SET resolved_question = b.question"
            " FROM unnest(%s::uuid[], %s::int[]) AS t(conversation_id, turn)"
            " WHERE b.tenant_id = %s AND b.conversation_id = t.conversation_id AND b.turn > t.turn"
            " AND b.resolved_question <> b.question",
            ([c for c, _ in turns], [t for _, t in turns], tenant_id),
        )
    return len(ids)


def _comments_quoting(conn: psycopg.Connection[Any], tenant_id: UUID, shingles: set[str]) -> list[int]:
    """Ids of the tenant's feedback comments that share a shingle with the redacted text."""
    if not shingles:
        return []
    rows = conn.execute(
        "SELECT id, comment FROM feedback WHERE tenant_id = %s AND comment IS NOT NULL", (tenant_id,)
    ).fetchall()
    return [r["id"] for r in rows if _shingles_of(r["comment"]) & shingles]


def _shingles(rows: Sequence[dict[str, Any]]) -> set[str]:
    """What a comment could have copied from ``rows``: every run of words of their answer
    texts, sentences and quotes, and every long token with a digit (an id, a number)."""
    found: set[str] = set()
    for row in rows:
        sentences = row["sentences"]
        if isinstance(sentences, str):
            sentences = json.loads(sentences)
        found |= _shingles_of(row["answer"])
        for sentence in sentences:
            found |= _shingles_of(sentence.get("text", ""))
            for citation in sentence.get("citations", []):
                found |= _shingles_of(citation.get("quote", ""))
    return found


def _shingles_of(text: str) -> set[str]:
    words = _WORD.findall(text.casefold())
    runs = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    return runs | {w for w in words if len(w) >= MIN_ID_CHARS and any(ch.isdigit() for ch in w)}
