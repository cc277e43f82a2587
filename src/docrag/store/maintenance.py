"""``docrag maintenance``: the database's periodic upkeep, as the schema's owner.

In order: history pruning (finished jobs older than DOCRAG_JOB_HISTORY_DAYS, backup runs as
old but the last good one, heartbeats of workers gone for a day, conversations and loose
answers untouched for DOCRAG_CONVERSATION_HISTORY_DAYS when set, audit events older than
DOCRAG_AUDIT_HISTORY_DAYS when set); orphaned stored files
(uploaded bytes in ``uploads`` that no queued or running job will read: a finished job deletes
its upload in the same transaction, so these are leftovers); index health (an invalid index,
left by a failed concurrent build, is rebuilt with REINDEX CONCURRENTLY, or dropped when it is
such a build's ``_ccnew`` leftover; with the pgstattuple extension, a B-tree index over 10 MB
whose leaves are less than half full is rebuilt too); and VACUUM (ANALYZE) of every table.
``dry_run`` reports what would be done and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from docrag.store.pgtools import SCHEMA, tables

BLOAT_MIN_BYTES = 10 * 2**20
BLOAT_MAX_LEAF_DENSITY = 50.0
_LEFTOVER = re.compile(r"_cc(new|old)\d*$")

_INVALID_INDEXES = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND NOT i.indisvalid
  AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
ORDER BY c.relname
"""
_BTREE_INDEXES = """
SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am a ON a.oid = c.relam
WHERE n.nspname = %s AND i.indisvalid AND a.amname = 'btree' AND pg_relation_size(c.oid) > %s
ORDER BY c.relname
"""
_DEAD_TUPLES = "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = %s"


@dataclass(frozen=True, slots=True)
class Action:
    what: str
    detail: str
    #: False: a dry run's "would do", or an attempt that failed (said in detail).
    done: bool


def _count(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...], dry_run: bool) -> int:
    """Rows ``query`` (a DELETE) removes, or in a dry run would remove."""
    if dry_run:
        query = f"SELECT count(*) FROM ({query.replace('DELETE FROM', 'SELECT 1 FROM', 1)}) would"
        row = conn.execute(query.encode(), params).fetchone()  # our own constant SQL
        return int(row[0]) if row else 0
    return conn.execute(query.encode(), params).rowcount


_HISTORY = {
    "jobs": "DELETE FROM jobs WHERE state IN ('done', 'failed')"
    " AND updated_at < now() - %s * interval '1 day'",
    "backup runs": "DELETE FROM backup_runs WHERE finished_at < now() - %s * interval '1 day'"
    " AND id <> coalesce((SELECT id FROM backup_runs WHERE ok ORDER BY finished_at DESC LIMIT 1), -1)",
}
_CONVERSATIONS = {
    "conversations": "DELETE FROM conversations WHERE updated_at < now() - %s * interval '1 day'",
    "answers": "DELETE FROM answers WHERE conversation_id IS NULL"
    " AND created_at < now() - %s * interval '1 day'",
}
# Only the owner may: the service's role has no DELETE on audit_log (store/audit.py).
_AUDIT = {"audit events": "DELETE FROM audit_log WHERE at < now() - %s * interval '1 day'"}
_HEARTBEATS = "DELETE FROM worker_heartbeats WHERE seen_at < now() - interval '1 day'"
_ORPHANS = (
    "DELETE FROM uploads u WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = u.document_id"
    " AND j.state IN ('queued', 'running'))"
)


def prune_history(
    conn: psycopg.Connection[Any],
    job_days: float,
    conversation_days: float,
    dry_run: bool,
    audit_days: float = 0.0,
) -> list[Action]:
    actions = []
    groups = [(_HISTORY, job_days), (_CONVERSATIONS, conversation_days), (_AUDIT, audit_days)]
    for statements, days in groups:
        for what, query in statements.items():
            if days <= 0:
                actions.append(Action(f"prune {what}", "kept forever (history days 0)", False))
                continue
            n = _count(conn, query, (days,), dry_run)
            actions.append(Action(f"prune {what}", f"{n} older than {days:g} days", not dry_run))
    n = _count(conn, _HEARTBEATS, (), dry_run)
    actions.append(Action("prune worker heartbeats", f"{n} silent for a day", not dry_run))
    return actions


def remove_orphans(conn: psycopg.Connection[Any], dry_run: bool) -> Action:
    n = _count(conn, _ORPHANS, (), dry_run)
    return Action("orphaned stored files", f"{n} uploads no live job reads", not dry_run)


def _rebuild(conn: psycopg.Connection[Any], name: str, why: str, dry_run: bool) -> Action:
    ident = sql.Identifier(SCHEMA, name)
    leftover = bool(_LEFTOVER.search(name))
    verb = "DROP INDEX CONCURRENTLY IF EXISTS {}" if leftover else "REINDEX INDEX CONCURRENTLY {}"
    what = f"{'drop' if leftover else 'reindex'} {name}"
    if dry_run:
        return Action(what, why, False)
    try:
        conn.execute(sql.SQL(verb).format(ident))
    except psycopg.Error as exc:
        return Action(what, f"{why}; failed: {str(exc).strip().splitlines()[0]}", False)
    return Action(what, why, True)


def index_health(conn: psycopg.Connection[Any], dry_run: bool) -> list[Action]:
    actions = [
        _rebuild(conn, name, "invalid (indisvalid = false)", dry_run)
        for (name,) in conn.execute(_INVALID_INDEXES, (SCHEMA,)).fetchall()
    ]
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple'").fetchone() is None:
        actions.append(Action("index bloat", "not measured (no pgstattuple extension)", False))
        return actions
    for (name,) in conn.execute(_BTREE_INDEXES, (SCHEMA, BLOAT_MIN_BYTES)).fetchall():
        row = conn.execute("SELECT avg_leaf_density FROM pgstatindex(%s)", (f"{SCHEMA}.{name}",)).fetchone()
        if row is not None and row[0] is not None and row[0] < BLOAT_MAX_LEAF_DENSITY:
            actions.append(_rebuild(conn, name, f"bloated (leaf density {row[0]:.0f}%)", dry_run))
    return actions


def vacuum(conn: psycopg.Connection[Any], dry_run: bool) -> list[Action]:
    dead = {r[0]: (r[1], r[2]) for r in conn.execute(_DEAD_TUPLES, (SCHEMA,)).fetchall()}
    actions = []
    for name in tables(conn):
        live, dead_rows = dead.get(name, (0, 0))
        if not dry_run:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(SCHEMA, name)))
        actions.append(Action(f"vacuum analyze {name}", f"{live} live, {dead_rows} dead rows", not dry_run))
    return actions


def run_maintenance(
    url: str,
    *,
    job_history_days: float,
    conversation_history_days: float,
    audit_history_days: float = 0.0,
    dry_run: bool = False,
) -> list[Action]:
    """Everything above on the database at ``url`` (the schema's owner); what was done."""
    with psycopg.connect(url, autocommit=True) as conn:  # VACUUM and CONCURRENTLY refuse a transaction
        actions = prune_history(
            conn, job_history_days, conversation_history_days, dry_run, audit_history_days
        )
        actions.append(remove_orphans(conn, dry_run))
        actions += index_health(conn, dry_run)
        actions += vacuum(conn, dry_run)
    return actions
