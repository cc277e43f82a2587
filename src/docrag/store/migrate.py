"""Versioned schema migrations, applied at start under an advisory lock.

Migrations are the numbered ``migrations/NNNN_name.sql`` files shipped with the package;
each runs once, in its own transaction, and is recorded in ``schema_migrations``.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import psycopg

_log = logging.getLogger(__name__)
_LOCK_ID = 0x646F6372  # "docr": one migrator at a time across processes


def available() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, in order."""
    folder = resources.files("docrag.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply every pending migration; return the versions applied now."""
    applied_now: list[int] = []
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        # Only when missing: the service's role may not create tables, and with nothing pending it
        # needs to read this one only (store/roles.py).
        found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if found is None or found[0] is None:
            conn.execute(
                "CREATE TABLE schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in available():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql.encode())  # trusted SQL shipped with the package
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            _log.info("applied migration %s", name)
            applied_now.append(version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
