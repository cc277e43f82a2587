"""``docrag backup``: one consistent snapshot of the database with a checksummed manifest.

A backup is a folder ``docrag-<UTC time>`` holding ``database.dump`` (``pg_dump -Fc``) and
``manifest.json``: each file's sha256 and size, every table's row count and checksum, the
DocRAG version, the migration level, the time, and the top-10 results of fixed queries.
The dump, the counts and the checksums all read one exported snapshot, so they describe the
same moment even while writes go on. Uploaded files live in the ``uploads`` table, so the
dump holds them too, encrypted; the key store that decrypts them (store/keystore.py) is kept out
of every backup on purpose (docs/backups.md). The folder is written as ``*.partial`` and
renamed when complete, so a crash never leaves something that looks like a backup. Every
run, good or failed, is recorded in ``backup_runs``; /metrics reads the last good one as
``docrag_backup_last_success_timestamp_seconds``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from docrag import __version__
from docrag.errors import Unavailable
from docrag.store.pgtools import Target, fingerprint, migration_level, run_program

_log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DUMP = "database.dump"
FORMAT = 1
PREFIX = "docrag-"
PARTIAL = ".partial"
#: pg_dump's compression: gzip level 1 dumps a 20k-chunk corpus in a third of the default
#: level's time for 5% more bytes (vectors compress poorly; bench/backup_times.py).
COMPRESSION = "gzip:1"
QUERY_WORDS = 12
QUERY_COLLECTIONS = 5


@dataclass(frozen=True, slots=True)
class FixedQuery:
    """A query the manifest records with its top-10 chunk ids, for verify to ask again."""

    tenant_id: str
    collection_id: str
    collection: str
    text: str


#: Runs the queries against a database and returns each one's top-10 chunk ids (None: the
#: query could not be asked there, e.g. the collection's embedding model is not this machine's).
SearchFn = Callable[[list[FixedQuery]], list[list[int] | None]]

_QUERY_SOURCES = """
SELECT c.tenant_id::text, c.id::text, c.name, c.content_version,
  (SELECT body FROM chunks k WHERE k.collection_id = c.id ORDER BY k.id LIMIT 1),
  (SELECT body FROM chunks k WHERE k.collection_id = c.id ORDER BY k.id DESC LIMIT 1)
FROM collections c ORDER BY c.tenant_id, c.name LIMIT %s
"""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The connection string without its password, and the environment carrying it (a
    password on a command line is readable in the process list)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    password = info.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None}), env


def _folder_name(root: Path, when: datetime) -> Path:
    base = PREFIX + when.strftime("%Y%m%dT%H%M%SZ")
    candidate, n = root / base, 1
    while candidate.exists() or candidate.with_name(candidate.name + PARTIAL).exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


def _fixed_queries(conn: psycopg.Connection[Any]) -> tuple[list[FixedQuery], dict[str, int]]:
    queries: list[FixedQuery] = []
    versions: dict[str, int] = {}
    for tenant, collection_id, name, version, first, last in conn.execute(
        _QUERY_SOURCES, (QUERY_COLLECTIONS,)
    ).fetchall():
        versions[collection_id] = int(version)
        for body in dict.fromkeys(b for b in (first, last) if b):
            words = " ".join(str(body).split()[:QUERY_WORDS])
            if words:
                queries.append(FixedQuery(tenant, collection_id, name, words))
    return queries, versions


def _searches(target: Target, search: SearchFn, queries: list[FixedQuery], versions: dict[str, int]) -> Any:
    """Ask the queries on the live database, keeping those whose collection did not change since
    the snapshot (its content_version is bumped with every change), so each recorded result is
    what the snapshot's data gives."""
    if not queries:
        return {"queries": [], "skipped": 0}
    results = search(queries)
    with target.connect() as conn:
        now = dict(
            conn.execute(
                "SELECT id::text, content_version FROM collections WHERE id::text = ANY(%s)",
                (list(versions),),
            ).fetchall()
        )
    kept = [
        {**_as_dict(q), "top10": ids}
        for q, ids in zip(queries, results, strict=True)
        if ids is not None and now.get(q.collection_id) == versions[q.collection_id]
    ]
    return {"queries": kept, "skipped": len(queries) - len(kept)}


def _as_dict(q: FixedQuery) -> dict[str, str]:
    return {
        "tenant_id": q.tenant_id,
        "collection_id": q.collection_id,
        "collection": q.collection,
        "text": q.text,
    }


def create_backup(
    target: Target,
    root: Path,
    *,
    pg_dump: str,
    search: SearchFn | None = None,
    compress: str = COMPRESSION,
) -> Path:
    """Write a backup under ``root`` and return its folder."""
    started = datetime.now(UTC)
    timings: dict[str, float] = {}
    final = _folder_name(root, started)
    work = final.with_name(final.name + PARTIAL)
    work.mkdir(parents=True)
    try:
        with target.connect(autocommit=False) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            row = conn.execute("SELECT pg_export_snapshot(), current_setting('server_version')").fetchone()
            assert row is not None
            snapshot, server_version = row
            dbname, env = libpq_args(target.owner_url)
            clock = time.perf_counter()
            run_program(
                [pg_dump, "--format=custom", f"--compress={compress}", f"--snapshot={snapshot}",
                 "--no-password", f"--file={work / DUMP}", f"--dbname={dbname}"],
                env=env,
            )  # fmt: skip
            timings["dump_seconds"], clock = time.perf_counter() - clock, time.perf_counter()
            tables = fingerprint(conn)
            level = migration_level(conn)
            queries, versions = _fixed_queries(conn) if "collections" in tables else ([], {})
            conn.rollback()
        timings["fingerprint_seconds"], clock = time.perf_counter() - clock, time.perf_counter()
        searches = _searches(target, search, queries, versions) if search else {"queries": [], "skipped": 0}
        timings["searches_seconds"] = time.perf_counter() - clock
        files: dict[str, dict[str, Any]] = {
            p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(work.iterdir())
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "docrag_version": __version__,
            "created_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "migration_level": level,
            "server_version": server_version,
            "files": files,
            "tables": tables,
            "searches": searches,
            "timings": {k: round(v, 2) for k, v in timings.items()},
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        _record(target, started, False, str(final), None)
        raise
    _record(target, started, True, str(final), sum(int(f["bytes"]) for f in files.values()))
    return final


def _record(target: Target, started: datetime, ok: bool, location: str, size: int | None) -> None:
    """One backup_runs row (migration 0050); a database without the table gets none."""
    try:
        with target.connect() as conn:
            present = conn.execute("SELECT to_regclass('backup_runs')").fetchone()
            if present is None or present[0] is None:
                return
            conn.execute(
                "INSERT INTO backup_runs (started_at, finished_at, ok, location, bytes)"
                " VALUES (%s, now(), %s, %s, %s)",
                (started, ok, location, size),
            )
    except (psycopg.Error, Unavailable) as exc:  # the backup's outcome matters more than its record
        _log.warning("could not record the backup run: %s", exc)


def read_manifest(folder: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return manifest


def check_files(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """What is wrong with the backup's files (empty: every file is there with its checksum)."""
    problems = []
    for name, expected in sorted(manifest.get("files", {}).items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != expected["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {expected['bytes']}")
        elif sha256_file(path) != expected["sha256"]:
            problems.append(f"{name}: sha256 differs from the manifest")
    if DUMP not in manifest.get("files", {}):
        problems.append(f"{DUMP}: not in the manifest")
    return problems
