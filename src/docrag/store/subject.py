"""Subject rights (issue 21.3): erase a whole tenant, or what one principal created.

A tenant's erasure deletes its ``tenants`` row, whose foreign keys cascade to every row of
the tenant (keys, collections, documents, chunks with their vectors, uploaded originals,
jobs, conversations, answers, feedback); then it sweeps every table of the schema that has a
``tenant_id`` column, read from the catalog rather than from a list, so a table a later
migration adds without a cascade is emptied too. It runs on a connection scoped to the
tenant: row-level security (migration 0071) makes another tenant's rows out of its reach
whatever the SQL says. Caches are the caller's (``Runtime.erase_tenant``).

A principal's erasure (``created_by``, migration 0120; ``feedback.key_id`` or ``user_id``) deletes the
conversations and answers it created and the feedback it gave.

Hook points for what other branches add (see docs/subject-rights.md):
:data:`KEPT_TABLES` (an append-only audit log the sweep must leave alone) and the
``on_erased`` callback, run in the erasing transaction (to record the erasure, without the
erased content, and to destroy the tenant's data key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from docrag.errors import NotFound
from docrag.store.crypto import destroy_tenant_key
from docrag.store.keystore import KeyStore
from docrag.store.postgres import Store

#: Tables with a ``tenant_id`` column that erasure must not sweep (an append-only audit log
#: keeps the record of the erasure itself). Empty today.
KEPT_TABLES: frozenset[str] = frozenset({"audit_log"})

_TENANT_TABLES = """
SELECT c.relname FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id'
  AND NOT a.attisdropped AND NOT c.relispartition
ORDER BY c.relname
"""


@dataclass(frozen=True, slots=True)
class TenantErasure:
    tenant_id: UUID
    #: Rows deleted per table (counted before the delete: cascades delete without telling).
    rows: dict[str, int]
    #: The tenant's collections and API keys, whose cache entries and rate-limit windows the
    #: caller drops from memory and Redis.
    collection_ids: tuple[UUID, ...]
    key_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class ActorErasure:
    tenant_id: UUID
    actor: UUID
    conversations: int
    answers: int
    feedback: int
    #: Collections the actor's answers were drawn from: their cached answers hold its questions.
    collection_ids: tuple[UUID, ...] = field(default=())


ErasureHook = Callable[[psycopg.Connection[Any], TenantErasure], None]
ActorErasureHook = Callable[[psycopg.Connection[Any], ActorErasure], None]


def tenant_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Every table of the schema with a ``tenant_id`` column, from the catalog."""
    return [str(r["relname"]) for r in conn.execute(_TENANT_TABLES).fetchall()]


def _may_delete(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute(
        "SELECT has_table_privilege(current_user, %s::regclass, 'DELETE') AS ok", (table,)
    ).fetchone()
    return bool(row and row["ok"])


def _count(conn: psycopg.Connection[Any], table: str, tenant_id: UUID) -> int:
    query = sql.SQL("SELECT count(*) AS n FROM {} WHERE tenant_id = %s").format(sql.Identifier(table))
    row = conn.execute(query, (tenant_id,)).fetchone()
    return int(row["n"]) if row else 0


def erase_tenant(
    store: Store, tenant_id: UUID, *, key_store: KeyStore, on_erased: ErasureHook | None = None
) -> TenantErasure:
    """Delete every row of the tenant in one transaction, and, as its last step, destroy the
    tenant's key-store secrets (``key_store``): the copies of its originals in old backups become
    unreadable. A failure after that step (the commit) leaves the tenant's rows with originals
    that can't be decrypted any more: erasing it again finishes the erasure.

    :raises NotFound: no such tenant (or, row security's view, not the scoped one).
    """
    with store.connection(tenant_id) as conn, conn.transaction():
        found = conn.execute("SELECT id FROM tenants WHERE id = %s FOR UPDATE", (tenant_id,)).fetchone()
        if found is None:
            raise NotFound(f"tenant {tenant_id} not found", code="tenant_not_found")
        # The collection rows next, as every writer of their documents takes them first
        # (store/jobs.py, Store.delete_document): a writer in flight finishes, or waits and fails.
        collections = conn.execute(
            "SELECT id FROM collections WHERE tenant_id = %s ORDER BY id FOR UPDATE", (tenant_id,)
        ).fetchall()
        keys = conn.execute("SELECT id FROM api_keys WHERE tenant_id = %s", (tenant_id,)).fetchall()
        tables = [t for t in tenant_tables(conn) if t not in KEPT_TABLES]
        rows = {table: _count(conn, table, tenant_id) for table in tables}
        # Crypto-shredding first: the tenant's data keys (and the ciphertexts they open) go from the
        # database here; their key-store secrets at the end, once nothing can fail but the commit.
        destroy_tenant_key(conn, tenant_id)
        conn.execute("DELETE FROM tenants WHERE id = %s", (tenant_id,))
        rows["tenants"] = 1
        for table in tables:  # what no cascade reached (a table without a foreign key)
            if _may_delete(conn, table):
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(sql.Identifier(table)), (tenant_id,)
                )
            elif _count(conn, table, tenant_id):
                # The service may not delete these rows itself (store/roles.py WITHHELD: users,
                # sessions) and no cascade took them: fail whole rather than erase in part.
                raise RuntimeError(
                    f"erasing tenant {tenant_id}: rows of {table} are left and may not be deleted"
                )
        erasure = TenantErasure(
            tenant_id,
            {t: n for t, n in rows.items() if n},
            tuple(UUID(str(r["id"])) for r in collections),
            tuple(UUID(str(r["id"])) for r in keys),
        )
        if on_erased is not None:
            on_erased(conn, erasure)
        # Without these, an old backup's wrapped data keys of the tenant unwrap with no key
        # (store/keystore.py): its originals there are unreadable, even with the master key.
        key_store.destroy_tenant(tenant_id)
    return erasure


def erase_actor(
    store: Store, tenant_id: UUID, actor: UUID, *, on_erased: ActorErasureHook | None = None
) -> ActorErasure:
    """Delete what ``actor`` created in the tenant: its conversations (with every turn in them),
    its answers and its feedback. Answers of others in its conversations go with them; the
    feedback others gave on its answers goes with those answers (both by cascade).
    ``on_erased`` runs in the erasing transaction (to record the erasure)."""
    with store.connection(tenant_id) as conn, conn.transaction():
        touched = conn.execute(
            "SELECT DISTINCT c.id FROM answers a JOIN collections c"
            " ON c.tenant_id = a.tenant_id AND c.name = ANY(a.collections)"
            " WHERE a.tenant_id = %(t)s AND (a.created_by = %(a)s OR a.conversation_id IN"
            " (SELECT id FROM conversations WHERE tenant_id = %(t)s AND created_by = %(a)s))",
            {"t": tenant_id, "a": actor},
        ).fetchall()
        feedback = conn.execute(
            "DELETE FROM feedback WHERE tenant_id = %s AND (key_id = %s OR user_id = %s)",
            (tenant_id, actor, actor),
        ).rowcount
        answers = conn.execute(
            "DELETE FROM answers WHERE tenant_id = %s AND created_by = %s", (tenant_id, actor)
        ).rowcount
        conversations = conn.execute(
            "DELETE FROM conversations WHERE tenant_id = %s AND created_by = %s", (tenant_id, actor)
        ).rowcount
        erasure = ActorErasure(
            tenant_id, actor, conversations, answers, feedback, tuple(UUID(str(r["id"])) for r in touched)
        )
        if on_erased is not None:
            on_erased(conn, erasure)
    return erasure


def find_tenant(store: Store, name_or_id: str) -> UUID:
    """The tenant named ``name_or_id``, or with that id (an operator's lookup, all tenants).

    :raises NotFound: no such tenant."""
    with store.connection(store.ALL_TENANTS) as conn:
        row = conn.execute(
            "SELECT id FROM tenants WHERE name = %s OR id::text = lower(%s) ORDER BY name = %s DESC LIMIT 1",
            (name_or_id, name_or_id, name_or_id),
        ).fetchone()
    if row is None:
        raise NotFound(f"tenant {name_or_id!r} not found", code="tenant_not_found")
    return UUID(str(row["id"]))
