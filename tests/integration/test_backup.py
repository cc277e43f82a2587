"""Backups against the real PostgreSQL: backup, mutate, restore gives the backup's data back;
verify passes on a good backup and fails on a damaged file and on a dump that is not the
manifest's; prune keeps the right daily and weekly sets."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docrag.cli.backup import searcher
from docrag.cli.main import app
from docrag.errors import Unavailable
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.backup import DUMP, MANIFEST, create_backup, read_manifest, sha256_file
from docrag.store.backup_prune import Backup, plan, prune
from docrag.store.backup_restore import BackupInvalid, RestoreRefused, restore
from docrag.store.backup_verify import verify
from docrag.store.pgtools import Target, fingerprint, open_target, pg_program
from queue_helpers import sql

TEXTS = {
    "tides.txt": "Tides are caused by the gravity of the moon. Spring tides come at new and full moon.",
    "bees.txt": "Honey bees dance to tell the hive where flowers are. The waggle dance points at the sun.",
    "rust.txt": "Iron rusts when water and oxygen reach it. Paint and zinc keep the oxygen away.",
}


@pytest.fixture(scope="module")
def target(settings: Settings) -> Iterator[Target]:
    t = open_target(settings)
    yield t
    t.close()


@pytest.fixture(scope="module")
def backup(
    runtime: Runtime, settings: Settings, target: Target, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One backup of a small corpus, with its fixed queries' results."""
    collection = runtime.collection(runtime.default_tenant, "science", create=True)
    results = runtime.ingest_now.ingest_many(collection, [Upload(t.encode(), n, n) for n, t in TEXTS.items()])
    assert all(r.document is not None for r in results)
    root = tmp_path_factory.mktemp("backups")
    assert target.service_url is not None
    with searcher(settings, target.service_url, target.owner_url) as search:
        return create_backup(target, root, pg_dump=pg_program(settings, "pg_dump"), search=search)


def _data(target: Target) -> dict[str, dict[str, object]]:
    with target.connect() as conn:
        found = fingerprint(conn)
    found.pop("backup_runs")  # a restore keeps the runs recorded after the backup
    return found


def test_manifest_lists_files_tables_and_fixed_queries(backup: Path, database_url: str) -> None:
    manifest = read_manifest(backup)
    assert not backup.with_name(backup.name + ".partial").exists()
    assert manifest["files"][DUMP]["sha256"] == sha256_file(backup / DUMP)
    assert manifest["files"][DUMP]["bytes"] == (backup / DUMP).stat().st_size
    assert manifest["tables"]["documents"]["rows"] == 3
    assert manifest["tables"]["chunks"]["rows"] >= 3
    assert manifest["migration_level"] >= 72
    queries = manifest["searches"]["queries"]
    assert queries and all(len(q["top10"]) >= 1 for q in queries)
    # Each fixed query is a chunk's own words: that chunk is among its results.
    ok = sql(database_url, "SELECT ok, location FROM backup_runs ORDER BY id DESC LIMIT 1")
    assert ok == [(True, str(backup))]


def test_restore_brings_the_backup_back(
    backup: Path, target: Target, runtime: Runtime, settings: Settings
) -> None:
    before = _data(target)
    assert before == {k: v for k, v in read_manifest(backup)["tables"].items() if k != "backup_runs"}
    # Mutate: a document gone, another added, a table written.
    with target.connect() as conn:
        conn.execute("DELETE FROM documents WHERE filename = 'bees.txt'")
        conn.execute("INSERT INTO tenants (name) VALUES ('intruder')")
    collection = runtime.collection(runtime.default_tenant, "science")
    runtime.ingest_now.ingest_many(
        collection, [Upload(b"Glaciers carve valleys over thousands of years.", "ice.txt")]
    )
    assert _data(target) != before
    tools = {"pg_restore": pg_program(settings, "pg_restore"), "psql": pg_program(settings, "psql")}
    with pytest.raises(RestoreRefused):
        restore(target, backup, **tools)
    assert _data(target) != before  # refused: nothing changed
    restore(target, backup, **tools, force=True)
    assert _data(target) == before
    # The service's role, under row security, reads the restored rows (its grants are back).
    runtime.lexical.forget(runtime.default_tenant, collection.id)
    runtime.exact.forget(runtime.default_tenant, collection.id)
    hits = runtime.retriever.search(runtime.default_tenant, [collection.id], "waggle dance of honey bees")
    assert hits and hits[0].document_title == "bees.txt"
    with target.connect() as conn:  # the run recorded at backup time survived the restore
        assert conn.execute("SELECT count(*) FROM backup_runs WHERE ok").fetchone() == (1,)


def test_restore_refuses_a_damaged_backup(
    backup: Path, target: Target, settings: Settings, tmp_path: Path
) -> None:
    damaged = tmp_path / backup.name
    shutil.copytree(backup, damaged)
    with (damaged / DUMP).open("r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    before = _data(target)
    with pytest.raises(BackupInvalid, match="sha256"):
        restore(
            target, damaged, pg_restore=pg_program(settings, "pg_restore"), psql=pg_program(settings, "psql")
        )
    assert _data(target) == before


def test_verify_passes_on_a_good_backup(backup: Path, settings: Settings) -> None:
    result = CliRunner().invoke(app, ["backup", "verify", str(backup)])
    assert result.exit_code == 0, result.output
    assert "MISMATCH" not in result.output
    assert "table chunks" in result.output and "search science" in result.output
    assert "checks passed" in result.output


def test_verify_latest_finds_the_newest_backup(backup: Path) -> None:
    result = CliRunner().invoke(
        app, ["backup", "verify", "--latest", "--to", str(backup.parent), "--no-searches"]
    )
    assert result.exit_code == 0, result.output
    assert f"verifying {backup}" in result.output
    empty = CliRunner().invoke(app, ["backup", "verify", "--latest", "--to", str(backup.parent / "none")])
    assert empty.exit_code == 2 and "no backup" in empty.output


def test_verify_fails_on_a_damaged_file(backup: Path, settings: Settings, tmp_path: Path) -> None:
    damaged = tmp_path / backup.name
    shutil.copytree(backup, damaged)
    with (damaged / DUMP).open("ab") as f:
        f.write(b"\0")
    checks = verify(damaged, pg_restore=pg_program(settings, "pg_restore"), psql=pg_program(settings, "psql"))
    assert [c.what for c in checks if not c.ok] == [f"file {DUMP}"]
    result = CliRunner().invoke(app, ["backup", "verify", "--no-searches", str(damaged)])
    assert result.exit_code == 1 and "MISMATCH" in result.output


def test_verify_fails_on_a_dump_that_is_not_the_manifests(
    backup: Path, target: Target, settings: Settings, tmp_path: Path
) -> None:
    # Another moment's dump under this manifest, its checksum made to match: only the restored
    # data can tell, and it does.
    with target.connect() as conn:
        conn.execute("UPDATE chunks SET body = body || ' (edited)' WHERE id = (SELECT min(id) FROM chunks)")
        conn.execute("DELETE FROM documents WHERE filename = 'rust.txt'")
    other = create_backup(target, tmp_path / "other", pg_dump=pg_program(settings, "pg_dump"))
    forged = tmp_path / backup.name
    shutil.copytree(backup, forged)
    shutil.copy(other / DUMP, forged / DUMP)
    manifest = read_manifest(forged)
    manifest["files"][DUMP] = {"sha256": sha256_file(forged / DUMP), "bytes": (forged / DUMP).stat().st_size}
    (forged / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    checks = verify(
        forged,
        pg_restore=pg_program(settings, "pg_restore"),
        psql=pg_program(settings, "psql"),
        open_search=lambda url: searcher(settings, url),
    )
    failed = {c.what for c in checks if not c.ok}
    assert {"table chunks", "table documents"} <= failed
    assert any(w.startswith("search science") for w in failed)  # rust.txt's chunks are gone
    assert f"file {DUMP}" not in failed


def _backups(times: list[datetime], root: Path) -> list[Backup]:
    found = []
    for when in times:
        folder = root / f"docrag-{when:%Y%m%dT%H%M%SZ}"
        folder.mkdir()
        (folder / MANIFEST).write_text(json.dumps({"created_at": when.isoformat()}), encoding="utf-8")
        found.append(Backup(folder, when))
    return sorted(found, key=lambda b: b.created, reverse=True)


def test_prune_keeps_the_newest_of_recent_days_and_weeks(tmp_path: Path) -> None:
    # Two backups a day, every day for 30 days, ending on Wednesday 2026-12-02.
    end = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)
    times = [end - timedelta(days=d, hours=h) for d in range(30) for h in (0, 12)]
    backups = _backups(times, tmp_path)
    kept, removed = plan(backups, keep_daily=3, keep_weekly=3)
    # Daily: the 22:00 backups of Dec 2, 1 and Nov 30. Weekly: the newest of the ISO weeks of
    # Dec 2 (already kept), Nov 23-29 (Sunday Nov 29 22:00) and Nov 16-22 (Sunday Nov 22 22:00).
    assert [b.created for b in kept] == [end - timedelta(days=d) for d in (0, 1, 2, 3, 10)]
    assert len(removed) == len(backups) - 5
    assert plan(backups, 0, 0)[0] == backups[:1]  # the newest backup is always kept
    # The folder agrees: a dry run removes nothing, the real one removes the same set.
    _, would = prune(tmp_path, 3, 3, dry_run=True)
    assert len(would) == len(removed) and all(p.exists() for p in would)
    _, gone = prune(tmp_path, 3, 3)
    assert sorted(gone) == sorted(b.path for b in removed)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(b.path.name for b in kept)


def test_backup_of_an_unreachable_database_fails_cleanly(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", data_dir=tmp_path)
    with pytest.raises(Unavailable, match="unavailable"):
        create_backup(open_target(settings), tmp_path / "b", pg_dump=pg_program(settings, "pg_dump"))
    assert not any((tmp_path / "b").iterdir())  # no partial folder left behind


def test_a_collection_this_machine_cannot_search_is_skipped_not_fatal(
    runtime: Runtime, settings: Settings, target: Target, tmp_path: Path
) -> None:
    foreign = runtime.collection(runtime.default_tenant, "foreign", create=True)
    runtime.ingest_now.ingest_many(foreign, [Upload(b"Lichens are fungi living with algae.", "lichen.txt")])
    with target.connect() as conn:  # as if another embedding model had built it
        conn.execute("UPDATE collections SET embedding_model = 'another-model' WHERE id = %s", (foreign.id,))
    assert target.service_url is not None
    with searcher(settings, target.service_url, target.owner_url) as search:
        folder = create_backup(target, tmp_path, pg_dump=pg_program(settings, "pg_dump"), search=search)
    searches = read_manifest(folder)["searches"]
    assert searches["skipped"] >= 1
    assert searches["queries"] and all(q["collection"] != "foreign" for q in searches["queries"])
