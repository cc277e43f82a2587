"""The audit log (issue 14.7): an append-only record of who did what to which target, when and from where.

One row per event in ``audit_log`` (migration 0101), under row security by tenant like every
tenant table. The service's database role may INSERT and SELECT it, never UPDATE or DELETE it
(store/roles.py revokes both at every start; a trigger refuses UPDATE for every role), so a bug
or an injection in the service can add events but not rewrite or erase them. Only
``docrag maintenance``, as the schema's owner, prunes rows older than DOCRAG_AUDIT_HISTORY_DAYS
when that is set (default: kept forever).

Anyone may record: ``AuditLog(store).record(tenant_id, "key.created", actor=key_actor(id), ...)``.
``detail`` is a small JSON object of ids, names and counts: never document text, a question or a
secret (the table caps it at 4 KiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    from docrag.store.postgres import Store

#: The actions DocRAG records today; other work adds its own (``user.created``, ``login.failed``...).
KEY_CREATED = "key.created"
KEY_REVOKED = "key.revoked"
DOCUMENT_UPLOADED = "document.uploaded"
DOCUMENT_REPLACED = "document.replaced"
DOCUMENT_DELETED = "document.deleted"
COLLECTION_CREATED = "collection.created"
COLLECTION_DELETED = "collection.deleted"
RETENTION_CHANGED = "retention.changed"
PII_POLICY_CHANGED = "pii_policy.changed"
DATA_EXPORTED = "data.exported"
TENANT_ERASED = "tenant.erased"
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
SESSION_ENDED = "session.ended"
MFA_ENROLLMENT_STARTED = "mfa.enrollment_started"
MFA_ENABLED = "mfa.enabled"
USER_CREATED = "user.created"
USER_CHANGED = "user.changed"
USER_REMOVED = "user.removed"
PASSWORD_CHANGED = "password.changed"
TENANT_SETTINGS_CHANGED = "tenant_settings.changed"
ACTOR_ERASED = "actor.erased"

MAX_PAGE = 500
CLI_ACTOR = "cli"
ANONYMOUS_ACTOR = "anonymous"  # a failed login: nobody proved who they are


def key_actor(key_id: UUID) -> str:
    return f"key:{key_id}"


def user_actor(user_id: UUID) -> str:
    return f"user:{user_id}"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    source: str | None
    request_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to list, newest first; ``before`` is the keyset cursor (an event id)."""

    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 100


_FILTERS = (
    ("action", "action = %s"),
    ("actor", "actor = %s"),
    ("target", "target = %s"),
    ("since", "at >= %s"),
    ("until", "at < %s"),
    ("before", "id < %s"),
)


def append(
    conn: psycopg.Connection[Any],
    tenant_id: UUID,
    action: str,
    *,
    actor: str,
    target: str | None = None,
    detail: Mapping[str, object] | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> int:
    """:meth:`AuditLog.record` on the caller's connection, inside its transaction (an erasure
    records itself in the transaction that erases, so one never happens without the other)."""
    row = conn.execute(
        "INSERT INTO audit_log (tenant_id, actor, action, target, source, request_id, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (tenant_id, actor, action, target, source, request_id or None, Jsonb(dict(detail or {}))),
    ).fetchone()
    assert row is not None
    return int(row["id"])


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def connection(self, tenant_id: UUID) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A connection of ``tenant_id`` to :func:`append` on (one event, autocommitted)."""
        return self._store.connection(tenant_id)

    def record(
        self,
        tenant_id: UUID,
        action: str,
        *,
        actor: str,
        target: str | None = None,
        detail: Mapping[str, object] | None = None,
        source: str | None = None,
        request_id: str | None = None,
    ) -> int:
        """Append one event and return its id. ``action`` is a dotted lower-case name
        (``key.created``); ``actor`` is :func:`key_actor`, :func:`user_actor` or :data:`CLI_ACTOR`;
        ``source`` the client's address; ``request_id`` the request's X-Request-ID."""
        with self._store.connection(tenant_id) as conn:
            return append(
                conn, tenant_id, action, actor=actor, target=target, detail=detail, source=source,
                request_id=request_id,
            )  # fmt: skip

    def events(self, tenant_id: UUID, query: AuditFilter) -> list[AuditEvent]:
        """The tenant's events matching ``query``, newest first, at most ``query.limit`` (capped)."""
        where = ["tenant_id = %s"]
        params: list[object] = [tenant_id]
        for name, clause in _FILTERS:
            value = getattr(query, name)
            if value is not None:
                where.append(clause)
                params.append(value)
        params.append(max(1, min(query.limit, MAX_PAGE)))
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                "SELECT id, at, actor, action, target, source, request_id, detail FROM audit_log"
                f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s",  # constant clauses only
                params,
            ).fetchall()
        return [AuditEvent(**row) for row in rows]
