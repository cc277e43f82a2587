"""Uploaded originals encrypted at rest (issue 21.1, docs/encryption.md), against the real
PostgreSQL: the raw table and its data files hold no plaintext canary; a ciphertext moved to
another row does not decrypt; master-key and tenant data-key rotation; crypto-shredding makes
a backup's copy unreadable once the master key that wrapped it is retired (the key store's part,
which needs no retirement, is tests/e2e/test_crypto_shredding.py); a data key from before the key
store keeps working and `docrag crypto migrate-keystore` gives it a key-store secret."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg.rows import dict_row
from pydantic import SecretStr
from typer.testing import CliRunner

from docrag.cli.main import app
from docrag.domain import DocumentInfo, Job
from docrag.errors import KeyUnavailable
from docrag.ingest.pipeline import Upload
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.jobs.submit import submit
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.backup import DUMP, create_backup
from docrag.store.backup_restore import replay
from docrag.store.crypto import Sealer, destroy_tenant_key, rotate_master, rotate_tenant
from docrag.store.jobs import JobStore
from docrag.store.keyring import MasterKeys, load, parse
from docrag.store.pgtools import open_target, pg_program
from docrag.store.roles import with_user
from queue_helpers import sql

M1 = "m1:" + base64.b64encode(bytes(range(32))).decode()
M2 = "m2:" + base64.b64encode(bytes(range(100, 132))).decode()


def canary() -> bytes:
    return f"Zebracanary{uuid.uuid4().hex[:12]} is the secret word of this original.".encode()


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    if service_role is None:
        return Settings(database_url=database_url, pool_max_size=4, master_key=SecretStr(M1))
    return Settings(
        database_url=with_user(database_url, service_role),
        database_owner_url=database_url,
        pool_max_size=4,
        master_key=SecretStr(M1),
    )


def sealer(runtime: Runtime, master: str) -> Sealer:
    """A sealer with these master keys and the runtime's key store."""
    return Sealer(parse(master), runtime.jobs.sealer.keys)


@pytest.fixture(autouse=True)
def _master_key_back(runtime: Runtime) -> Iterator[None]:
    """Each test starts and ends with every data key wrapped by M1 (the runtime's key)."""
    yield
    rotate_master(runtime.store, sealer(runtime, f"{M1},{M2}"))


def queue(runtime: Runtime, data: bytes, tenant: uuid.UUID | None = None) -> DocumentInfo:
    coll = runtime.collection(tenant or runtime.default_tenant, "secrets", create=True)
    return submit(runtime.jobs, runtime.ingestor, coll, Upload(data, "secret.txt")).document


def job_of(database_url: str, doc: DocumentInfo) -> Job:
    [(job_id, collection_id)] = sql(
        database_url,
        "SELECT j.id, d.collection_id FROM jobs j JOIN documents d ON d.id = j.document_id"
        " WHERE j.document_id = %s",
        doc.id,
    )
    return Job(job_id, doc.tenant_id, collection_id, doc.id, 1, 5, "reader")


def raw_table(database_url: str, table: str) -> bytes:
    """Every byte of the table as the superuser reads it, past row security (binary COPY)."""
    out = bytearray()
    with (
        psycopg.connect(database_url) as conn,
        conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as cp,
    ):
        for block in cp:
            out += bytes(block)
    return bytes(out)


def data_files(database_url: str, table: str) -> bytes:
    """The table's and its TOAST table's data files on disk, after a checkpoint."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        root = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        rels = conn.execute(
            "SELECT pg_relation_filepath(c.oid), pg_relation_filepath(nullif(c.reltoastrelid, 0))"
            " FROM pg_class c WHERE c.relname = %s",
            (table,),
        ).fetchone()
    assert rels is not None
    found = b""
    for rel in filter(None, rels):
        for path in sorted(root.glob(rel + "*")):
            found += path.read_bytes()
    return found


def test_the_raw_tables_and_data_files_hold_no_plaintext_original(
    runtime: Runtime, settings: Settings, database_url: str
) -> None:
    secret = canary()
    doc = queue(runtime, secret)
    assert secret not in raw_table(database_url, "uploads")
    # The same read finds the canary where it is plain: the check can fail.
    sql(database_url, "CREATE TABLE IF NOT EXISTS plain_control (b bytea)")
    sql(database_url, "INSERT INTO plain_control VALUES (%s)", secret)
    assert secret in raw_table(database_url, "plain_control")
    if not os.environ.get("DOCRAG_TEST_DATABASE_URL"):  # the embedded server's files are on this disk
        assert secret in data_files(database_url, "plain_control")
        assert secret not in data_files(database_url, "uploads")
    # The worker decrypts it: the document is indexed with the original's text.
    job = runtime.jobs.claim("enc-test", lease_seconds=30)
    assert job is not None and job.document_id == doc.id
    assert JobRunner(runtime.jobs, runtime.ingestor, settings).run(job) is JobOutcome.DONE
    indexed = runtime.store.get_document(doc.tenant_id, doc.id)
    assert indexed.status == "indexed"
    assert secret in raw_table(database_url, "chunks")  # chunks stay searchable (volume encryption)
    assert sql(database_url, "SELECT count(*) FROM uploads WHERE document_id = %s", doc.id) == [(0,)]


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(runtime: Runtime, database_url: str) -> None:
    a_text, b_text = canary(), canary()
    a, b = queue(runtime, a_text), queue(runtime, b_text)
    upload_b = runtime.jobs.upload(job_of(database_url, b))
    assert upload_b is not None and upload_b.data == b_text
    sql(
        database_url,
        "UPDATE uploads SET data = (SELECT data FROM uploads WHERE document_id = %s) WHERE document_id = %s",
        b.id,
        a.id,
    )
    with pytest.raises(KeyUnavailable, match="not this row's ciphertext"):
        runtime.jobs.upload(job_of(database_url, a))
    sql(database_url, "DELETE FROM documents WHERE id = ANY(%s)", [a.id, b.id])


def test_master_key_rotation_rewraps_every_data_key(runtime: Runtime, database_url: str) -> None:
    secret = canary()
    doc = queue(runtime, secret)
    job = job_of(database_url, doc)
    [(kek_before,)] = sql(database_url, "SELECT kek_id FROM tenant_keys WHERE tenant_id = %s", doc.tenant_id)
    both = sealer(runtime, f"{M2},{M1}")  # M2 now current, M1 still accepted
    assert rotate_master(runtime.store, both).rewrapped >= 1
    assert sql(database_url, "SELECT DISTINCT master_key_id FROM tenant_keys") == [("m2",)]
    # The key-store secret stays: a master rotation needs nothing new in the database or the store.
    assert sql(database_url, "SELECT kek_id FROM tenant_keys WHERE tenant_id = %s", doc.tenant_id) == [
        (kek_before,)
    ]
    only_m2 = JobStore(runtime.store, sealer=sealer(runtime, M2))
    upload = only_m2.upload(job)
    assert upload is not None and upload.data == secret
    with pytest.raises(KeyUnavailable, match="'m2' is not configured"):
        runtime.jobs.upload(job)  # the runtime only knows M1, which wraps nothing any more
    # The command does the same, beside the running service.
    env = {"DOCRAG_DATABASE_URL": database_url, "DOCRAG_MASTER_KEY": f"{M1},{M2}"}
    result = CliRunner().invoke(app, ["crypto", "rotate-master"], env=env)
    assert result.exit_code == 0, result.output
    assert "data keys rewrapped with master key 'm1'" in result.output
    upload = runtime.jobs.upload(job)
    assert upload is not None and upload.data == secret
    sql(database_url, "DELETE FROM documents WHERE id = %s", doc.id)


def test_tenant_key_rotation_reencrypts_and_retires_the_old_version(
    runtime: Runtime, database_url: str
) -> None:
    secret = canary()
    doc = queue(runtime, secret)
    [(before_data, old)] = sql(
        database_url, "SELECT data, key_version FROM uploads WHERE document_id = %s", doc.id
    )
    env = {"DOCRAG_DATABASE_URL": database_url, "DOCRAG_MASTER_KEY": M1}
    result = CliRunner().invoke(app, ["crypto", "rotate-tenant", str(doc.tenant_id)], env=env)
    assert result.exit_code == 0, result.output
    assert f"data key version {old + 1}" in result.output and f"versions retired: [{old}]" in result.output
    [(after_data, new)] = sql(
        database_url, "SELECT data, key_version FROM uploads WHERE document_id = %s", doc.id
    )
    assert new == old + 1 and after_data != before_data
    assert sql(
        database_url, "SELECT version FROM tenant_keys WHERE tenant_id = %s ORDER BY version", doc.tenant_id
    ) == [(new,)]
    upload = runtime.jobs.upload(job_of(database_url, doc))
    assert upload is not None and upload.data == secret
    # New uploads use the new version; a rotation with nothing left to re-encrypt retires the old one,
    # and destroys its key-store secret: only the newest version's is left.
    keys = runtime.jobs.sealer.keys
    [(kek_new,)] = sql(database_url, "SELECT kek_id FROM tenant_keys WHERE tenant_id = %s", doc.tenant_id)
    assert kek_new in keys.ids(doc.tenant_id)
    again = rotate_tenant(runtime.store, runtime.jobs.sealer, doc.tenant_id)
    assert again.version == new + 1 and again.reencrypted == 1 and again.retired == (new,) and not again.kept
    [(kek_last,)] = sql(database_url, "SELECT kek_id FROM tenant_keys WHERE tenant_id = %s", doc.tenant_id)
    assert kek_new not in keys.ids(doc.tenant_id) and kek_last in keys.ids(doc.tenant_id)
    sql(database_url, "DELETE FROM documents WHERE id = %s", doc.id)


def test_retiring_the_master_key_also_shreds_a_restored_backup(
    runtime: Runtime, settings: Settings, database_url: str, admin_url: str, tmp_path: Path
) -> None:
    tenant = runtime.store.ensure_tenant(f"shred-{uuid.uuid4().hex[:8]}")
    secret = canary()
    doc = queue(runtime, secret, tenant)
    target = open_target(settings)
    try:
        backup = create_backup(target, tmp_path, pg_dump=pg_program(settings, "pg_dump"))
    finally:
        target.close()
    # The database's part only: the key-store secrets stay (as for a key from before the key
    # store, which has none), so here it is the master key's retirement that shreds the copy.
    with runtime.store.connection(tenant) as conn, conn.transaction():
        assert destroy_tenant_key(conn, tenant) == 1
    assert sql(database_url, "SELECT count(*) FROM tenant_keys WHERE tenant_id = %s", tenant) == [(0,)]
    assert sql(database_url, "SELECT count(*) FROM uploads WHERE tenant_id = %s", tenant) == [(0,)]
    # The master key that wrapped the shredded key is retired: M2 becomes current, M1 goes.
    rotate_master(runtime.store, sealer(runtime, f"{M2},{M1}"))
    live = parse(M2)
    scratch = f"docrag_scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        scratch_url = psycopg.conninfo.make_conninfo(admin_url, dbname=scratch)
        sql(scratch_url, "CREATE EXTENSION IF NOT EXISTS vector")
        replay(
            scratch_url,
            backup / DUMP,
            pg_restore=pg_program(settings, "pg_restore"),
            psql=pg_program(settings, "psql"),
        )
        with psycopg.connect(scratch_url, row_factory=dict_row) as conn:
            row = conn.execute(
                "SELECT data, key_version FROM uploads WHERE document_id = %s", (doc.id,)
            ).fetchone()
            assert row is not None  # the backup holds the ciphertext and the wrapped key...
            assert secret not in bytes(row["data"])

            def read(keys: MasterKeys) -> bytes:
                assert row is not None
                return Sealer(keys, runtime.jobs.sealer.keys).open(
                    conn, tenant, doc.id, bytes(row["data"]), row["key_version"]
                )

            with pytest.raises(KeyUnavailable, match="'m1' is not configured"):
                read(live)  # ...which no configured master key unwraps
            assert read(parse(M1)) == secret  # it took retiring M1: with it, the copy was readable
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def test_a_data_key_from_before_the_key_store_works_and_is_migrated(
    runtime: Runtime, database_url: str
) -> None:
    tenant = runtime.store.ensure_tenant(f"legacy-{uuid.uuid4().hex[:8]}")
    # A data key as DocRAG made it before migration 0150: wrapped by the master key alone.
    nonce = os.urandom(12)
    aad = f"docrag/data-key/v1|{tenant}|1".encode()
    wrapped = nonce + AESGCM(parse(M1).keys["m1"]).encrypt(nonce, os.urandom(32), aad)
    sql(
        database_url,
        "INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped) VALUES (%s, 1, 'm1', %s)",
        tenant,
        wrapped,
    )
    secret = canary()
    doc = queue(runtime, secret, tenant)
    job = job_of(database_url, doc)
    upload = runtime.jobs.upload(job)
    assert upload is not None and upload.data == secret
    keys = runtime.jobs.sealer.keys
    assert keys.ids(tenant) == []
    env = {"DOCRAG_DATABASE_URL": database_url, "DOCRAG_MASTER_KEY": M1}
    result = CliRunner().invoke(app, ["crypto", "migrate-keystore"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 data keys given a key-store secret"), result.output
    [(kek_id, new_wrapped)] = sql(
        database_url, "SELECT kek_id, wrapped FROM tenant_keys WHERE tenant_id = %s", tenant
    )
    assert keys.ids(tenant) == [kek_id] and bytes(new_wrapped) != wrapped
    upload = runtime.jobs.upload(job)  # the same data key, now under both
    assert upload is not None and upload.data == secret
    again = CliRunner().invoke(app, ["crypto", "migrate-keystore"], env=env)
    assert again.output.startswith("0 data keys"), again.output
    sql(database_url, "DELETE FROM documents WHERE id = %s", doc.id)


def test_an_embedded_install_makes_its_master_key_file_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key=None, master_key_file=None)
    first = load(settings)
    path = tmp_path / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load(settings) == first and first.current == "m1" and len(first.keys["m1"]) == 32
    assert "m1" in repr(first) and base64.b64encode(first.keys["m1"]).decode() not in repr(first)
    from_file = Settings(master_key=None, master_key_file=path)
    assert load(from_file) == first


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("m1:" + base64.b64encode(bytes(range(31))).decode(), "31 bytes, expected 32"),
        ("m1:not base64!", "not base64"),
        (f"{M1},{M1}", "appears twice"),
        ("no-colon", "expected id:base64"),
        ("# only a comment\n", "no master key"),
    ],
)
def test_a_bad_master_key_is_refused_without_echoing_it(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error) as caught:
        parse(text)
    secret = text.partition(":")[2]
    assert len(secret) < 16 or secret[:16] not in str(caught.value)
