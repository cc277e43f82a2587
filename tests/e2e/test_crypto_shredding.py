"""Crypto-shredding that holds against old backups (issue 21, docs/encryption.md), with the real
PostgreSQL, `docrag backup`'s own code and a real HTTP server: a backup taken before tenant A's
erasure, restored into a fresh database with the same master key and key store, still opens
tenant B's original, while A's raises ``key_destroyed`` and A's canary is nowhere in plain text.
The key store's files are private and hold no data key."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api_calls import upload
from docrag.errors import KeyDestroyed, KeyUnavailable
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from docrag.store.backup import DUMP, create_backup
from docrag.store.backup_restore import replay
from docrag.store.crypto import Rewrapped, Sealer, rotate_master
from docrag.store.keyring import MasterKeys
from docrag.store.keystore import MAGIC, SECRET_BYTES, KeyStore
from docrag.store.pgtools import open_target, pg_program
from docrag.store.postgres import Store
from docrag.store.roles import with_user
from queue_helpers import sql


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    """No in-process worker: the uploads stay queued, as encrypted originals, through the backup."""
    owner = {"database_owner_url": database_url} if service_role else {}
    url = with_user(database_url, service_role) if service_role else database_url
    return Settings(database_url=url, pool_max_size=4, inprocess_worker=False, **owner)


def canary() -> bytes:
    return f"Okapicanary{uuid.uuid4().hex[:12]} is this original's secret.".encode()


def tenant_with_original(
    runtime: Runtime, base_url: str, data: bytes, marker: str
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A tenant, its admin key and one uploaded original (queued: encrypted in ``uploads``)."""
    tenant = runtime.store.ensure_tenant(f"shred-{uuid.uuid4().hex[:8]}")
    key = new_api_key()
    runtime.store.add_api_key(tenant, "admin", key, "admin")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        r = upload(c, "vault", f"{marker}.txt", data, wait=False)
    assert r.status_code == 202, r.text
    return tenant, uuid.UUID(r.json()["id"]), key


def every_table(url: str) -> bytes:
    """Every byte of every table of the database, as the superuser reads it (binary COPY)."""
    out = bytearray()
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as cp:
                for block in cp:
                    out += bytes(block)
    return bytes(out)


@pytest.fixture
def scratch(admin_url: str) -> Iterator[str]:
    """A fresh database with pgvector, dropped afterwards."""
    name = f"docrag_scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    try:
        sql(url, "CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_erased_tenant_is_unreadable_in_a_backup_taken_before_its_erasure(
    runtime: Runtime, settings: Settings, base_url: str, scratch: str, tmp_path: Path
) -> None:
    keys = runtime.jobs.sealer.keys
    a_secret, b_secret = canary(), canary()
    marker = f"plainmarker{uuid.uuid4().hex[:10]}"  # A's file name: stored in plain text
    a, a_doc, a_key = tenant_with_original(runtime, base_url, a_secret, marker)
    b, b_doc, _ = tenant_with_original(runtime, base_url, b_secret, "b")
    # The backup, with the project's own code, before the erasure.
    target = open_target(settings)
    try:
        backup = create_backup(target, tmp_path / "backups", pg_dump=pg_program(settings, "pg_dump"))
    finally:
        target.close()
    kept_copy = tmp_path / "keystore-copy"  # what a key-store backup would still hold (below)
    shutil.copytree(keys.root / str(a), kept_copy / str(a))
    # A erases itself through the API.
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {a_key}"}, timeout=60) as c:
        r = c.delete(f"/v1/tenants/{a}")
    assert r.status_code == 200, r.text
    assert not (keys.root / str(a)).exists() and keys.ids(b)
    # The old backup restored into a fresh database; same master key, same key store.
    replay(
        scratch,
        backup / DUMP,
        pg_restore=pg_program(settings, "pg_restore"),
        psql=pg_program(settings, "psql"),
    )
    sealer = runtime.jobs.sealer
    with psycopg.connect(scratch, row_factory=dict_row) as conn:

        def original(sealer: Sealer, tenant: uuid.UUID, doc: uuid.UUID) -> bytes:
            row = conn.execute(
                "SELECT data, key_version FROM uploads WHERE tenant_id = %s AND document_id = %s",
                (tenant, doc),
            ).fetchone()
            assert row is not None  # the backup holds the ciphertext and the wrapped data key
            return sealer.open(conn, tenant, doc, bytes(row["data"]), row["key_version"])

        assert original(sealer, b, b_doc) == b_secret
        with pytest.raises(KeyDestroyed, match="was destroyed") as caught:
            original(sealer, a, a_doc)
        assert caught.value.code == "key_destroyed" and caught.value.status == 410
        # It is the key store that made the difference: with a copy of A's secrets, the same
        # backup and master key read A's original (so a key-store backup must be erased too).
        assert original(Sealer(sealer.master, KeyStore(kept_copy)), a, a_doc) == a_secret
    # A master-key rotation of the restored database rewraps B's data key and skips A's, which
    # nothing can unwrap any more, instead of stopping at it.
    restored_store = Store(scratch, min_size=1, max_size=1)
    try:
        m2 = MasterKeys({**sealer.master.keys, "m2": os.urandom(32)}, "m2")
        assert rotate_master(restored_store, Sealer(m2, keys)) == Rewrapped(rewrapped=1, shredded=1)
    finally:
        restored_store.close()
    restored = every_table(scratch)
    assert marker.encode() in restored  # the scan reads what is stored in plain text...
    assert a_secret not in restored and b_secret not in restored  # ...and no original is
    for path in keys.root.rglob("*"):
        assert not path.is_file() or a_secret not in path.read_bytes()
    # The live database still serves B.
    with psycopg.connect(
        settings.database_owner_url or settings.database_url or "", row_factory=dict_row
    ) as conn:
        row = conn.execute(
            "SELECT data, key_version FROM uploads WHERE document_id = %s", (b_doc,)
        ).fetchone()
        assert row is not None
        assert sealer.open(conn, b, b_doc, bytes(row["data"]), row["key_version"]) == b_secret


def test_key_store_files_are_private_and_hold_no_data_key(
    runtime: Runtime, settings: Settings, base_url: str
) -> None:
    tenant, doc, _ = tenant_with_original(runtime, base_url, canary(), "private")
    sealer = runtime.jobs.sealer
    folder = sealer.keys.root / str(tenant)
    [path] = list(folder.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(sealer.keys.root.stat().st_mode) == 0o700
    blob = path.read_bytes()
    assert blob.startswith(MAGIC) and len(blob) == len(MAGIC) + SECRET_BYTES
    with runtime.store.connection(tenant) as conn:
        row = conn.execute(
            "SELECT version, master_key_id, kek_id, wrapped FROM tenant_keys WHERE tenant_id = %s", (tenant,)
        ).fetchone()
        assert row is not None and path.name == f"{row['kek_id']}.kek"
        data_key = sealer.data_key(conn, tenant, row["version"])
        assert len(data_key) == 32 and data_key not in blob and data_key not in bytes(row["wrapped"])
        # The master key alone (as a row from before the key store is read) does not unwrap it.
        with pytest.raises(KeyUnavailable, match="does not decrypt"):
            sealer._unwrap(tenant, {**row, "kek_id": None})
        assert sealer.keys.destroy(tenant, row["kek_id"]) and not path.exists()
        with pytest.raises(KeyDestroyed):
            sealer.data_key(conn, tenant, row["version"])
    # A worker fails the document at once (a shredded key never comes back), not after retries.
    runner = JobRunner(runtime.jobs, runtime.ingestor, settings)
    while (job := runtime.jobs.claim("shred-test", lease_seconds=60)) is not None:
        outcome = runner.run(job)
        if job.document_id == doc:
            assert outcome is JobOutcome.FAILED
    failed = runtime.store.get_document(tenant, doc)
    assert failed.status == "failed" and failed.error_code == "key_destroyed", failed
