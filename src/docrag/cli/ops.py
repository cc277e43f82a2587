"""Operations commands: ``docrag migrate`` (schema migrations as their own step, e.g. a
Kubernetes Job or the compose ``migrate`` service, before new API processes start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docrag.cli.exits import UNAVAILABLE


def migrate_command(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
    ] = None,
) -> None:
    """Apply pending schema migrations and exit (expand-only: older API versions keep working).

    They run as DOCRAG_DATABASE_OWNER_URL's role when it is set (else DOCRAG_DATABASE_URL's);
    with both set, the owner also grants DOCRAG_DATABASE_URL's role its rights on the rows."""
    from docrag.errors import Unavailable
    from docrag.settings import Settings
    from docrag.store.roles import open_database

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    try:
        database = open_database(settings, serve=False)
    except Unavailable as exc:
        typer.echo(f"error [database_unavailable]: {exc}", err=True)
        raise typer.Exit(UNAVAILABLE) from exc
    database.stop()
    applied = database.applied
    typer.echo(f"applied migrations: {applied}" if applied else "schema up to date")


def retention_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what is due")] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
    ] = None,
) -> None:
    """Purge what the collections' retention makes due (PUT /v1/collections/{name}/retention):
    old documents, with what they left in answers and caches, and old answers with their
    feedback. Schedule it daily (deploy/k8s CronJob docrag-retention)."""
    from docrag.cli.common import runtime

    with runtime(data_dir, inprocess_worker=False) as rt:
        report = rt.apply_retention(dry_run=dry_run)
    verb = "due" if dry_run else "deleted"
    for doc in report.documents:
        updated = f"{doc.updated_at:%Y-%m-%d}"
        typer.echo(
            f"{verb}: document {doc.document_id} {doc.title!r} in {doc.collection} (updated {updated})"
        )
    conversations = "" if dry_run else f", {report.conversations} emptied conversations deleted"
    typer.echo(f"{len(report.documents)} documents and {report.answers} answers {verb}{conversations}")


def register(app: typer.Typer) -> None:
    app.command(name="migrate")(migrate_command)
    app.command(name="retention")(retention_command)
