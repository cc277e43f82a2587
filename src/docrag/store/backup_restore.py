"""``docrag restore``: a backup back into a database, all or nothing.

The backup's checksums are checked first. Then one transaction (``psql --single-transaction``)
drops every object of the schema that is not an extension's and replays the dump as the
schema's owner (``--no-owner --no-privileges``: the objects become the connecting role's),
so a failed restore leaves the database as it was, and tables from a newer migration than the
backup's do not linger. pgvector itself is not replayed (only a superuser may create it); the
target must have it, as every DocRAG database does. Afterwards the service's role gets its
rights back, and the ``backup_runs`` rows the target had are kept (the backup predates them).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from docrag.errors import Unavailable
from docrag.store.backup import DUMP, check_files, libpq_args, read_manifest
from docrag.store.pgtools import Target, has_data, run_program


class BackupInvalid(Exception):
    """The backup's files do not match its manifest."""


class RestoreRefused(Exception):
    """The target holds data and the caller did not confirm replacing it."""


# Drops the schema's own objects (never an extension's members) in dependency-safe order:
# views and tables with CASCADE (their policies, triggers and owned sequences go with them),
# then what is left: sequences, routines and types.
WIPE_SQL = r"""
DO $wipe$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm', 'r', 'p', 'f', 'S')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
           ORDER BY c.relkind = 'S', c.relkind NOT IN ('v', 'm') LOOP
    CONTINUE WHEN to_regclass(r.name::text) IS NULL;  -- gone with an earlier CASCADE
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                     WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.name);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d
             WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c', 'r')
             AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                             AND d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', r.name);
  END LOOP;
END
$wipe$;
"""
# pg_restore -l entries left out: the extension and its comment (a superuser's).
_SKIPPED_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION|COMMENT - EXTENSION) ")


def restore_list(pg_restore: str, dump: Path) -> str:
    listing = run_program([pg_restore, "--list", str(dump)]).stdout.decode()
    return "".join(line for line in listing.splitlines(keepends=True) if not _SKIPPED_ENTRY.match(line))


def ensure_vector(url: str, superuser_url: str | None) -> None:
    """The target database has pgvector (created here when a superuser URL is known)."""
    if superuser_url is not None:
        with psycopg.connect(superuser_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        return
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
            raise Unavailable("the target database lacks pgvector: a superuser must CREATE EXTENSION vector")


def replay(url: str, dump: Path, *, pg_restore: str, psql: str) -> None:
    """Wipe the schema and replay ``dump`` into ``url``'s database in one transaction."""
    dbname, env = libpq_args(url)
    # The HNSW index builds of the replay go faster with memory; a lock held by a running
    # service fails the restore after a while instead of waiting for ever.
    env["PGOPTIONS"] = " ".join(
        filter(None, [env.get("PGOPTIONS"), "-c maintenance_work_mem=512MB -c lock_timeout=60s"])
    )
    with tempfile.TemporaryDirectory(prefix="docrag-restore-") as tmp:
        listing, wipe = Path(tmp) / "list", Path(tmp) / "wipe.sql"
        listing.write_text(restore_list(pg_restore, dump), encoding="utf-8")
        wipe.write_text(WIPE_SQL, encoding="utf-8")
        with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
            producer = subprocess.Popen(
                [pg_restore, "--no-owner", "--no-privileges", f"--use-list={listing}", "--file=-", str(dump)],
                stdout=subprocess.PIPE, stderr=restore_err, env=env,
            )  # fmt: skip
            assert producer.stdout is not None
            consumer = subprocess.run(
                [psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
                 f"--file={wipe}", "--file=-", f"--dbname={dbname}"],
                stdin=producer.stdout, stdout=subprocess.DEVNULL, stderr=psql_err, env=env, check=False,
            )  # fmt: skip
            producer.stdout.close()
            produced = producer.wait()
            for code, errors, name in (
                (produced, restore_err, "pg_restore"),
                (consumer.returncode, psql_err, "psql"),
            ):
                if code != 0:
                    errors.seek(0)
                    tail = errors.read().decode(errors="replace").strip()[-2000:]
                    raise Unavailable(f"{name} failed ({code}): {tail}")


def restore(
    target: Target, folder: Path, *, pg_restore: str, psql: str, force: bool = False
) -> dict[str, Any]:
    """Restore the backup in ``folder`` into the target; return its manifest."""
    manifest = read_manifest(folder)
    problems = check_files(folder, manifest)
    if problems:
        raise BackupInvalid("; ".join(problems))
    with target.connect() as conn:
        if not force and has_data(conn):
            raise RestoreRefused("the database holds data; restoring replaces all of it")
        runs = _backup_runs(conn)
    ensure_vector(target.owner_url, target.superuser_url)
    replay(target.owner_url, folder / DUMP, pg_restore=pg_restore, psql=psql)
    with target.connect() as conn:
        _keep_backup_runs(conn, runs)
    target.regrant()
    return manifest


def _backup_runs(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    present = conn.execute("SELECT to_regclass('backup_runs')").fetchone()
    if present is None or present[0] is None:
        return []
    return conn.execute("SELECT started_at, finished_at, ok, location, bytes FROM backup_runs").fetchall()


def _keep_backup_runs(conn: psycopg.Connection[Any], runs: list[tuple[Any, ...]]) -> None:
    present = conn.execute("SELECT to_regclass('backup_runs')").fetchone()
    if not runs or present is None or present[0] is None:
        return
    with conn.transaction():
        for run in runs:
            conn.execute(
                "INSERT INTO backup_runs (started_at, finished_at, ok, location, bytes)"
                " SELECT %s, %s, %s, %s, %s WHERE NOT EXISTS"
                " (SELECT 1 FROM backup_runs WHERE started_at = %s AND location = %s)",
                (*run, run[0], run[3]),
            )
