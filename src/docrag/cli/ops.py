"""Operations commands: ``docrag migrate`` (schema migrations as their own step, e.g. a
Kubernetes Job or the compose ``migrate`` service, before new API processes start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def migrate_command(
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
    ] = None,
) -> None:
    """Apply pending schema migrations and exit (expand-only: older API versions keep working)."""
    import psycopg

    from docrag.settings import Settings
    from docrag.store.embedded import EmbeddedPostgres
    from docrag.store.migrate import migrate

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    embedded = None
    url = settings.database_url
    if not url:
        embedded = EmbeddedPostgres(settings.resolved_data_dir())
        url = embedded.start()
    try:
        with psycopg.connect(url) as conn:
            applied = migrate(conn)
    except psycopg.OperationalError as exc:
        typer.echo(f"error [database_unavailable]: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        if embedded is not None:
            embedded.stop()
    typer.echo(f"applied migrations: {applied}" if applied else "schema up to date")


def register(app: typer.Typer) -> None:
    app.command(name="migrate")(migrate_command)
