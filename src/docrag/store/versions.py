"""A collection's content version: bumped with every change of its chunks, in the writer's
transaction, and read in one snapshot with what a reader builds from them (BM25, exact search)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg


def snapshot_version(conn: psycopg.Connection[Any], tenant_id: UUID, collection_id: UUID) -> int:
    """Start the caller's transaction as one snapshot (REPEATABLE READ) and read the collection's
    content version in it (-1: no such collection), so what the caller reads next in the same
    transaction is exactly that version's content."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    found = conn.execute(
        "SELECT content_version FROM collections WHERE tenant_id = %s AND id = %s",
        (tenant_id, collection_id),
    ).fetchone()
    return int(found["content_version"]) if found else -1


def bump(conn: psycopg.Connection[Any], tenant_id: UUID, collection_id: UUID) -> tuple[str, str] | None:
    """Mark the collection's chunks changed (inside the caller's transaction), for BM25.

    :returns: its (name, embedding model), read under the row's lock; None: no such collection.
    """
    row = conn.execute(
        "UPDATE collections SET content_version = content_version + 1 WHERE tenant_id = %s AND id = %s"
        " RETURNING name, embedding_model",
        (tenant_id, collection_id),
    ).fetchone()
    return None if row is None else (row["name"], row["embedding_model"])
