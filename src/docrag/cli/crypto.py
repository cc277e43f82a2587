"""Key commands (docs/encryption.md): ``docrag crypto new-master-key``, ``docrag crypto
rotate-master``, ``docrag crypto rotate-tenant TENANT`` and ``docrag crypto migrate-keystore``.
They run beside a serving deployment (no downtime): each data key is rewrapped, and each stored
original re-encrypted, in its own transaction. They need the master keys and the key store
(DOCRAG_KEY_STORE_DIR) the service uses: run them where both are mounted (an API pod)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

if TYPE_CHECKING:
    from docrag.store.crypto import Sealer
    from docrag.store.postgres import Store

crypto_app = typer.Typer(
    help="Master keys and tenant data keys of the encrypted originals (docs/encryption.md)."
)
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
]


@contextmanager
def _store(data_dir: Path | None) -> Iterator[tuple[Store, Sealer]]:
    from docrag.settings import Settings
    from docrag.store.crypto import Sealer
    from docrag.store.keyring import load
    from docrag.store.keystore import open_keystore
    from docrag.store.postgres import Store
    from docrag.store.roles import open_database

    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    sealer = Sealer(load(settings), open_keystore(settings))
    database = open_database(settings)
    try:
        store = Store(database.url, min_size=1, max_size=2)
        try:
            yield store, sealer
        finally:
            store.close()
    finally:
        database.stop()


@crypto_app.command("new-master-key")
def new_master_key(
    key_id: Annotated[str | None, typer.Option("--id", help="The key's id (default m<UTC time>)")] = None,
) -> None:
    """Print a fresh master key entry (id:base64) to put first in DOCRAG_MASTER_KEY_FILE."""
    from docrag.store.keyring import new_entry

    typer.echo(new_entry(key_id))


@crypto_app.command("rotate-master")
def rotate_master_command(data_dir: DataDirOpt = None) -> None:
    """Rewrap every tenant's data keys with the current (first) master key; afterwards the older
    master keys can be removed from the configuration."""
    from docrag.store.crypto import rotate_master

    with _store(data_dir) as (store, sealer):
        done = rotate_master(store, sealer)
    typer.echo(
        f"{done.rewrapped} data keys rewrapped with master key {sealer.master.current!r}"
        + (
            f"; {done.shredded} left as they are: their key-store secrets are destroyed"
            if done.shredded
            else ""
        )
    )


@crypto_app.command("rotate-tenant")
def rotate_tenant_command(
    tenant: Annotated[UUID, typer.Argument(help="The tenant's id")], data_dir: DataDirOpt = None
) -> None:
    """Give the tenant a new data key, re-encrypt its stored originals with it, and delete the
    old versions nothing uses any more."""
    from docrag.store.crypto import rotate_tenant

    with _store(data_dir) as (store, sealer):
        done = rotate_tenant(store, sealer, tenant)
    typer.echo(
        f"tenant {tenant}: data key version {done.version}, {done.reencrypted} originals re-encrypted,"
        f" versions retired: {list(done.retired)}"
        + (f", still in use (run again): {list(done.kept)}" if done.kept else "")
    )


@crypto_app.command("migrate-keystore")
def migrate_keystore_command(data_dir: DataDirOpt = None) -> None:
    """Give every data key made before the key store (wrapped by a master key alone) a key-store
    secret and rewrap it under both, so that erasing its tenant makes old backups unreadable
    from then on. Safe to run again: it rewraps only what still needs it."""
    from docrag.store.crypto import migrate_keystore

    with _store(data_dir) as (store, sealer):
        done = migrate_keystore(store, sealer)
    typer.echo(f"{done.rewrapped} data keys given a key-store secret in {sealer.keys.root}")


def register(app: typer.Typer) -> None:
    app.add_typer(crypto_app, name="crypto")
