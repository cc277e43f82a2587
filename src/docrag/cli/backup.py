"""Backup commands (docs/backups.md): ``docrag backup [--to DIR]``, ``docrag backup verify``,
``docrag backup prune`` and ``docrag restore``; and ``docrag maintenance`` (docs/maintenance.md).

All of them work as the schema's owner (store/pgtools.py): the embedded server's
``docrag_owner``, or DOCRAG_DATABASE_OWNER_URL. Exit status: 0 done, 1 a verification found a
mismatch, 2 an error (database, programs, a damaged backup, a refused restore).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from docrag.settings import Settings
    from docrag.store.backup import SearchFn

backup_app = typer.Typer(
    help="Consistent backups of the database with a checksummed manifest (docs/backups.md).",
    invoke_without_command=True,
)
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
]
ToOpt = Annotated[Path | None, typer.Option("--to", help="Folder of backups (default DOCRAG_BACKUP_DIR)")]
BackupArg = Annotated[
    Path, typer.Argument(help="A backup folder (docrag-<time>)", exists=True, file_okay=False)
]


def _settings(data_dir: Path | None) -> Settings:
    from docrag.settings import Settings

    settings = Settings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir is not None else settings


@contextmanager
def _errors() -> Iterator[None]:
    from docrag.errors import DocRAGError
    from docrag.store.backup_restore import BackupInvalid, RestoreRefused

    try:
        yield
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except (BackupInvalid, RestoreRefused) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def searcher(settings: Settings, url: str, owner_url: str | None = None) -> Iterator[SearchFn]:
    """Hybrid search (as served, with this machine's models and settings) over ``url``'s database."""
    import logging
    from uuid import UUID

    from docrag.errors import DocRAGError
    from docrag.services import Runtime
    from docrag.store.backup import FixedQuery

    # A scratch copy is searched as its superuser: the least-privilege warning is expected there.
    logging.getLogger("docrag.store.roles").setLevel(logging.ERROR)
    runtime = Runtime.open(
        settings.model_copy(
            update={"database_url": url, "database_owner_url": owner_url, "redis_url": None,
                    "answer_cache_seconds": 0.0, "pool_min_size": 1, "pool_max_size": 2}
        )
    )  # fmt: skip

    def one(q: FixedQuery) -> list[int] | None:
        try:
            hits = runtime.retriever.search(UUID(q.tenant_id), [UUID(q.collection_id)], q.text)
        except DocRAGError as exc:  # recorded as skipped at backup time, a mismatch at verify
            logging.getLogger(__name__).warning("fixed query on %s not asked: %s", q.collection, exc)
            return None
        return [h.chunk_id for h in hits]

    def search(queries: list[FixedQuery]) -> list[list[int] | None]:
        return [one(q) for q in queries]

    try:
        yield search
    finally:
        runtime.close()


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


@backup_app.callback()
def backup(
    ctx: typer.Context,
    to: ToOpt = None,
    searches: Annotated[bool, typer.Option(help="Record the fixed queries' top-10 results")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a backup: the database dump and manifest.json, in DIR/docrag-<UTC time>."""
    if ctx.invoked_subcommand is not None:
        return
    from docrag.store.backup import create_backup, read_manifest
    from docrag.store.pgtools import open_target, pg_program

    settings = _settings(data_dir)
    root = to.expanduser().resolve() if to is not None else settings.resolved_backup_dir()
    started = time.perf_counter()
    with _errors():
        target = open_target(settings)
        try:
            if searches:
                url = target.service_url or target.owner_url
                owner = target.owner_url if target.service_url else None
                with searcher(settings, url, owner) as search:
                    folder = create_backup(
                        target, root, pg_dump=pg_program(settings, "pg_dump"), search=search
                    )
            else:
                folder = create_backup(target, root, pg_dump=pg_program(settings, "pg_dump"))
        finally:
            target.close()
    manifest = read_manifest(folder)
    size = sum(f["bytes"] for f in manifest["files"].values())
    rows = sum(t["rows"] for t in manifest["tables"].values())
    recorded = len(manifest["searches"]["queries"])
    spent = manifest["timings"]
    typer.echo(
        f"backup {folder} ({_human(size)}, {len(manifest['tables'])} tables, {rows} rows,"
        f" {recorded} fixed queries) in {time.perf_counter() - started:.1f} s"
        f" (dump {spent['dump_seconds']:.1f} s, checksums {spent['fingerprint_seconds']:.1f} s,"
        f" queries {spent['searches_seconds']:.1f} s)"
    )


@backup_app.command("verify")
def verify_command(
    folder: Annotated[Path | None, typer.Argument(help="A backup folder", file_okay=False)] = None,
    latest: Annotated[bool, typer.Option("--latest", help="Verify the newest backup in --to")] = False,
    to: ToOpt = None,
    searches: Annotated[bool, typer.Option(help="Ask the fixed queries of the restored copy")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Check the files' checksums, restore into a scratch PostgreSQL, and compare every table's
    row count and checksum and the fixed queries' top-10 results with the manifest."""
    from docrag.store.backup_prune import list_backups
    from docrag.store.backup_verify import verify
    from docrag.store.pgtools import pg_program

    settings = _settings(data_dir)
    if (folder is None) == (not latest):
        typer.echo("error: name a backup folder or pass --latest", err=True)
        raise typer.Exit(2)
    if folder is None:
        root = to.expanduser().resolve() if to is not None else settings.resolved_backup_dir()
        found = list_backups(root)
        if not found:
            typer.echo(f"error: no backup in {root}", err=True)
            raise typer.Exit(2)
        folder = found[0].path
        typer.echo(f"verifying {folder}")
    started = time.perf_counter()
    with _errors():
        checks = verify(
            folder.resolve(),
            pg_restore=pg_program(settings, "pg_restore"),
            psql=pg_program(settings, "psql"),
            open_search=(lambda url: searcher(settings, url)) if searches else None,
        )
    width = max(len(c.what) for c in checks)
    for c in checks:
        line = f"{c.what:<{width}}  {'ok' if c.ok else 'MISMATCH'}"
        typer.echo(line if c.ok else f"{line}  expected {c.expected}; got {c.actual}")
    bad = sum(not c.ok for c in checks)
    typer.echo(
        f"{len(checks) - bad}/{len(checks)} checks passed in {time.perf_counter() - started:.1f} s"
        + ("" if not bad else f": {bad} MISMATCH")
    )
    if bad:
        raise typer.Exit(1)


@backup_app.command("prune")
def prune_command(
    keep_daily: Annotated[int, typer.Option(min=0, help="Newest backup of this many recent days")] = 7,
    keep_weekly: Annotated[int, typer.Option(min=0, help="Newest backup of this many recent weeks")] = 4,
    to: ToOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove backups past the retention (the newest is always kept)."""
    from docrag.store.backup_prune import prune

    settings = _settings(data_dir)
    root = to.expanduser().resolve() if to is not None else settings.resolved_backup_dir()
    kept, removed = prune(root, keep_daily, keep_weekly, dry_run=dry_run)
    for b in kept:
        typer.echo(f"keep    {b.path.name}")
    for path in removed:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {path.name}")
    typer.echo(f"{len(kept)} kept, {len(removed)} {'to remove' if dry_run else 'removed'}")


def restore_command(
    folder: BackupArg,
    yes: Annotated[bool, typer.Option("--yes", help="Replace a database that holds data")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Restore a backup (checksums first), replacing the whole schema in one transaction.
    Stop the API and workers first; start them again afterwards."""
    from docrag.store.backup_restore import restore
    from docrag.store.pgtools import open_target, pg_program

    settings = _settings(data_dir)
    started = time.perf_counter()
    with _errors():
        target = open_target(settings)
        try:
            manifest = restore(
                target,
                folder.resolve(),
                pg_restore=pg_program(settings, "pg_restore"),
                psql=pg_program(settings, "psql"),
                force=yes,
            )
        finally:
            target.close()
    typer.echo(
        f"restored {folder.name} (taken {manifest['created_at']}, migration {manifest['migration_level']})"
        f" in {time.perf_counter() - started:.1f} s"
    )


def maintenance_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what would be done")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Prune job and conversation history, remove orphaned stored files, rebuild invalid or
    bloated indexes (REINDEX CONCURRENTLY), and VACUUM (ANALYZE) every table."""
    from docrag.store.maintenance import run_maintenance
    from docrag.store.pgtools import open_target

    settings = _settings(data_dir)
    started = time.perf_counter()
    with _errors():
        target = open_target(settings)
        try:
            actions = run_maintenance(
                target.owner_url,
                job_history_days=settings.job_history_days,
                conversation_history_days=settings.conversation_history_days,
                audit_history_days=settings.audit_history_days,
                dry_run=dry_run,
            )
        finally:
            target.close()
    width = max(len(a.what) for a in actions)
    for a in actions:
        state = (
            "done" if a.done else "dry run" if dry_run else "failed" if "failed:" in a.detail else "skipped"
        )
        typer.echo(f"{a.what:<{width}}  {state:<8} {a.detail}")
    typer.echo(f"maintenance {'planned' if dry_run else 'done'} in {time.perf_counter() - started:.1f} s")


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.command(name="restore")(restore_command)
    app.command(name="maintenance")(maintenance_command)
