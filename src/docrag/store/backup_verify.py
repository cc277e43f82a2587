"""``docrag backup verify``: prove a backup restores to the data it claims to hold.

Checks, in order: every file against the manifest's sha256 and size; then the dump restored
into a scratch PostgreSQL (a fresh embedded server in a temporary folder, removed afterwards:
it needs no rights on the production server and puts no load on it), whose per-table row
counts and checksums and migration level must equal the manifest's; then the manifest's fixed
queries asked of the restored copy, whose top-10 chunk ids must equal those recorded at backup
time. Any mismatch fails the verification.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from docrag.store.backup import DUMP, FixedQuery, SearchFn, check_files, read_manifest
from docrag.store.backup_restore import ensure_vector, replay
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.pgtools import fingerprint, migration_level

#: Given the scratch database's URL, a search over it (closed on exit).
SearchOpener = Callable[[str], AbstractContextManager[SearchFn]]


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def _file_checks(folder: Path, manifest: dict[str, Any]) -> list[Check]:
    problems = {p.split(":", 1)[0]: p.split(": ", 1)[1] for p in check_files(folder, manifest)}
    names = sorted(set(manifest.get("files", {})) | set(problems))
    return [
        Check(f"file {name}", "sha256 and size match", problems.get(name, "sha256 and size match"))
        for name in names
    ]


def _table_checks(manifest: dict[str, Any], restored: dict[str, dict[str, Any]]) -> list[Check]:
    expected: dict[str, dict[str, Any]] = manifest.get("tables", {})

    def show(entry: dict[str, Any] | None) -> str:
        return "absent" if entry is None else f"{entry['rows']} rows, md5 {entry['md5']}"

    return [
        Check(f"table {name}", show(expected.get(name)), show(restored.get(name)))
        for name in sorted(set(expected) | set(restored))
    ]


def _search_checks(manifest: dict[str, Any], search: SearchFn) -> list[Check]:
    recorded = manifest.get("searches", {}).get("queries", [])
    if not recorded:
        return []
    queries = [FixedQuery(q["tenant_id"], q["collection_id"], q["collection"], q["text"]) for q in recorded]
    results = search(queries)
    return [
        Check(
            f"search {q['collection']}: {q['text'][:40]!r}",
            ",".join(map(str, q["top10"])),
            "could not search" if got is None else ",".join(map(str, got)),
        )
        for q, got in zip(recorded, results, strict=True)
    ]


def verify(
    folder: Path,
    *,
    pg_restore: str,
    psql: str,
    open_search: SearchOpener | None = None,
    scratch_parent: Path | None = None,
) -> list[Check]:
    """Every check made of the backup in ``folder`` (all ok: the backup is good)."""
    manifest = read_manifest(folder)
    checks = _file_checks(folder, manifest)
    if not all(c.ok for c in checks):
        return checks  # a restore of files that are not the backup's would prove nothing
    scratch = Path(tempfile.mkdtemp(prefix="docrag-verify-", dir=scratch_parent))
    server = EmbeddedPostgres(scratch)
    try:
        url = server.start()
        ensure_vector(url, url)
        replay(url, folder / DUMP, pg_restore=pg_restore, psql=psql)
        with psycopg.connect(url, autocommit=True) as conn:
            restored = fingerprint(conn)
            level = migration_level(conn)
        checks += _table_checks(manifest, restored)
        checks.append(Check("migration level", str(manifest.get("migration_level")), str(level)))
        if open_search is not None:
            with open_search(url) as search:
                checks += _search_checks(manifest, search)
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return checks
