"""Uploaded originals encrypted at rest with a data key per tenant (docs/encryption.md).

Each tenant has data keys (``tenant_keys``, migrations 0110 and 0150), numbered versions, stored
only wrapped. The wrapping key is HKDF-SHA256 of a master key (store/keyring.py, never in the
database; the row names its id) and of a secret of the key store (store/keystore.py, outside the
database and its backups; the row names its ``kek_id``), one secret per data key version. An
original (``uploads.data`` while it is queued, ``originals.data`` when a PII collection keeps it)
is AES-256-GCM under its tenant's newest data key, the row naming the key's version. The
associated data binds the ciphertext to its tenant and document: moved to another row, it fails
to decrypt. A row with no ``kek_id`` was wrapped by the master key alone, before migration 0150:
:func:`rotate_master` and ``docrag crypto migrate-keystore`` (:func:`migrate_keystore`) give it
a key-store secret.

Rotation without downtime: :func:`rotate_master` rewraps every data key under the current master
key (the old one unwraps until it is removed from the configuration; the key-store secret stays);
:func:`rotate_tenant` adds a data key version with a new secret, re-encrypts the tenant's stored
originals under it, and drops the versions nothing uses any more, destroying their secrets.
Crypto-shredding: :func:`destroy_tenant_key` deletes a tenant's data keys (and its ciphertexts)
and :meth:`KeyStore.destroy_tenant` their secrets, which makes the copies in old backups
unreadable too (:class:`~docrag.errors.KeyDestroyed`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docrag.errors import KeyDestroyed, KeyUnavailable
from docrag.store.keyring import KEY_BYTES, MasterKeys
from docrag.store.keystore import KeyStore
from docrag.store.postgres import Store

_NONCE = 12
#: The tables holding a tenant's encrypted originals: (tenant_id, document_id, data, key_version).
CIPHERTEXT_TABLES = ("uploads", "originals")
_ROW = "version, master_key_id, kek_id, wrapped"
#: A key-store secret no row names is destroyed by a tenant rotation once it is this old: a
#: younger one may belong to a data key whose row is not committed yet.
ORPHAN_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Sealed:
    data: bytes
    key_version: int


@dataclass(frozen=True, slots=True)
class TenantRotation:
    version: int  # the new data key's
    reencrypted: int  # originals re-encrypted under it
    retired: tuple[int, ...]  # old versions deleted (nothing used them any more)
    kept: tuple[int, ...]  # old versions still used (an upload raced the rotation): rotate again


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except InvalidTag:
        raise KeyUnavailable(f"{what} does not decrypt: wrong key, or not this row's ciphertext") from None


def _key_aad(tenant: UUID, version: int, kek_id: str | None) -> bytes:
    if kek_id is None:  # wrapped by the master key alone (before migration 0150)
        return f"docrag/data-key/v1|{tenant}|{version}".encode()
    return f"docrag/data-key/v2|{tenant}|{version}|{kek_id}".encode()


def _wrapping_key(master: bytes, secret: bytes, tenant: UUID, kek_id: str) -> bytes:
    """Both halves needed: the master key (configuration) and the key-store secret (its folder)."""
    info = f"docrag/wrap/v2|{tenant}|{kek_id}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master + secret)


def _original_aad(tenant: UUID, document: UUID) -> bytes:
    return f"docrag/original/v1|{tenant}|{document}".encode()


class Sealer:
    """Encrypts and decrypts a tenant's originals on the caller's connection (its transaction)."""

    def __init__(self, master: MasterKeys, keys: KeyStore) -> None:
        self.master = master
        self.keys = keys

    def seal(self, conn: psycopg.Connection[Any], tenant: UUID, document: UUID, data: bytes) -> Sealed:
        version, key = self._current(conn, tenant)
        return Sealed(_encrypt(key, data, _original_aad(tenant, document)), version)

    def open(
        self,
        conn: psycopg.Connection[Any],
        tenant: UUID,
        document: UUID,
        data: bytes,
        version: int | None,
        *,
        keys: dict[int, bytes] | None = None,
    ) -> bytes:
        """The plaintext of a stored original (``version`` None: stored before encryption, as is).
        ``keys``: the tenant's data keys by version, read once for several originals (filled here).

        :raises KeyDestroyed: its data key was shredded (here, or in the database a backup came from).
        """
        if version is None:
            return data
        key = keys.get(version) if keys is not None else None
        if key is None:
            key = self.data_key(conn, tenant, version)
            if keys is not None:
                keys[version] = key
        return _decrypt(key, data, _original_aad(tenant, document), "an original")

    def _unwrap(self, tenant: UUID, row: dict[str, Any]) -> bytes:
        kek_id = row["kek_id"]
        secret = None if kek_id is None else self.keys.read(tenant, kek_id)  # first: KeyDestroyed wins
        master = self.master.key(row["master_key_id"])
        wrapping = master if secret is None else _wrapping_key(master, secret, tenant, kek_id)
        return _decrypt(
            wrapping, bytes(row["wrapped"]), _key_aad(tenant, row["version"], kek_id), "a data key"
        )

    def _wrap(self, tenant: UUID, version: int, key: bytes, kek_id: str, secret: bytes) -> bytes:
        wrapping = _wrapping_key(self.master.key(self.master.current), secret, tenant, kek_id)
        return _encrypt(wrapping, key, _key_aad(tenant, version, kek_id))

    def data_key(self, conn: psycopg.Connection[Any], tenant: UUID, version: int) -> bytes:
        row = conn.execute(
            f"SELECT {_ROW} FROM tenant_keys WHERE tenant_id = %s AND version = %s", (tenant, version)
        ).fetchone()
        if row is None:
            raise KeyDestroyed(f"data key version {version} of tenant {tenant} is gone (shredded)")
        return self._unwrap(tenant, row)

    def _current(self, conn: psycopg.Connection[Any], tenant: UUID) -> tuple[int, bytes]:
        select = f"SELECT {_ROW} FROM tenant_keys WHERE tenant_id = %s ORDER BY version DESC LIMIT 1"
        row = conn.execute(select, (tenant,)).fetchone()
        if row is None:
            self.add_version(conn, tenant, 1)
            row = conn.execute(select, (tenant,)).fetchone()
            assert row is not None
        return row["version"], self._unwrap(tenant, row)

    def add_version(self, conn: psycopg.Connection[Any], tenant: UUID, version: int) -> bool:
        """A fresh data key as ``version``, with a fresh key-store secret (False: that version
        exists already, a racing writer's). The secret is on disk before the row names it."""
        key = os.urandom(KEY_BYTES)
        kek_id, secret = self.keys.create(tenant)
        try:
            row = conn.execute(
                "INSERT INTO tenant_keys (tenant_id, version, master_key_id, kek_id, wrapped)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING version",
                (
                    tenant,
                    version,
                    self.master.current,
                    kek_id,
                    self._wrap(tenant, version, key, kek_id, secret),
                ),
            ).fetchone()
        except BaseException:
            self.keys.destroy(tenant, kek_id)
            raise
        if row is None:
            self.keys.destroy(tenant, kek_id)
        return row is not None

    def rewrap(self, conn: psycopg.Connection[Any], tenant: UUID, row: dict[str, Any]) -> bool:
        """Rewrap one data key row under the current master key, keeping its key-store secret or,
        for a row from before migration 0150, making one (False: the row changed meanwhile)."""
        key = self._unwrap(tenant, row)
        made = row["kek_id"] is None
        if made:
            kek_id, secret = self.keys.create(tenant)
        else:
            kek_id, secret = row["kek_id"], self.keys.read(tenant, row["kek_id"])
        try:
            done = conn.execute(
                "UPDATE tenant_keys SET master_key_id = %s, kek_id = %s, wrapped = %s"
                " WHERE tenant_id = %s AND version = %s AND master_key_id = %s"
                " AND kek_id IS NOT DISTINCT FROM %s RETURNING version",
                (
                    self.master.current,
                    kek_id,
                    self._wrap(tenant, row["version"], key, kek_id, secret),
                    tenant,
                    row["version"],
                    row["master_key_id"],
                    row["kek_id"],
                ),
            ).fetchone()
        except BaseException:
            if made:
                self.keys.destroy(tenant, kek_id)
            raise
        if done is None and made:
            self.keys.destroy(tenant, kek_id)
        return done is not None


@dataclass(frozen=True, slots=True)
class Rewrapped:
    rewrapped: int
    #: Rows whose key-store secret is destroyed (an erased tenant's, in a database restored from a
    #: backup taken before the erasure): nothing can unwrap them, so they are left as they are.
    shredded: int = 0


def _rewrap_where(store: Store, sealer: Sealer, where: str, params: tuple[Any, ...]) -> Rewrapped:
    with store.connection(store.ALL_TENANTS) as conn:
        rows = conn.execute(f"SELECT tenant_id, {_ROW} FROM tenant_keys WHERE {where}", params).fetchall()
        done = shredded = 0
        for row in rows:
            try:
                with conn.transaction():
                    done += sealer.rewrap(conn, row["tenant_id"], row)
            except KeyDestroyed:
                shredded += 1
    return Rewrapped(done, shredded)


def rotate_master(store: Store, sealer: Sealer) -> Rewrapped:
    """Rewrap every data key not under the current master key (or not yet with a key-store
    secret) with the current one; :returns: how many were rewrapped, and how many were skipped
    as shredded."""
    return _rewrap_where(store, sealer, "master_key_id <> %s OR kek_id IS NULL", (sealer.master.current,))


def migrate_keystore(store: Store, sealer: Sealer) -> Rewrapped:
    """Give every data key wrapped by a master key alone (before migration 0150) a key-store
    secret, rewrapping it under both; :returns: how many were rewrapped."""
    return _rewrap_where(store, sealer, "kek_id IS NULL", ())


def rotate_tenant(store: Store, sealer: Sealer, tenant: UUID) -> TenantRotation:
    """A new data key (and key-store secret) for the tenant; its stored originals re-encrypted
    under it; old versions that nothing uses any more deleted, and their secrets destroyed once
    that is committed, so old backups' copies of them are unreadable too. Uploads go on meanwhile
    (each row is re-encrypted alone)."""
    with store.connection(tenant) as conn:
        with conn.transaction():
            row = conn.execute(
                "SELECT coalesce(max(version), 0) + 1 AS next FROM tenant_keys WHERE tenant_id = %s",
                (tenant,),
            ).fetchone()
            assert row is not None
            version = int(row["next"])
            if not sealer.add_version(conn, tenant, version):
                raise KeyUnavailable("another rotation of this tenant's data key is under way")
        count = 0
        for table in CIPHERTEXT_TABLES:
            ids = conn.execute(
                f"SELECT document_id FROM {table} WHERE tenant_id = %s AND key_version IS DISTINCT FROM %s",
                (tenant, version),
            ).fetchall()
            for r in ids:
                with conn.transaction():
                    count += _reencrypt(conn, sealer, table, tenant, r["document_id"], version)
        retired: list[int] = []
        kept: list[int] = []
        gone: set[str] = set()  # the retired versions' key-store secrets
        old = conn.execute(
            "SELECT version, kek_id FROM tenant_keys WHERE tenant_id = %s AND version < %s ORDER BY version",
            (tenant, version),
        ).fetchall()
        for r in old:
            try:
                with conn.transaction():
                    conn.execute(
                        "DELETE FROM tenant_keys WHERE tenant_id = %s AND version = %s",
                        (tenant, r["version"]),
                    )
                retired.append(r["version"])
                if r["kek_id"] is not None:
                    gone.add(str(r["kek_id"]))
            except psycopg.errors.ForeignKeyViolation:
                kept.append(r["version"])  # an original still under it (queued during the rotation)
    # Committed: the secrets no row names (the retired versions', and any a crash left) go.
    with store.connection(tenant) as conn:
        named = {
            str(r["kek_id"])
            for r in conn.execute("SELECT kek_id FROM tenant_keys WHERE tenant_id = %s", (tenant,))
        }
    for kek_id in gone | (set(sealer.keys.ids(tenant, older_than=ORPHAN_SECONDS)) - named):
        sealer.keys.destroy(tenant, kek_id)
    return TenantRotation(version, count, tuple(retired), tuple(kept))


def _reencrypt(
    conn: psycopg.Connection[Any], sealer: Sealer, table: str, tenant: UUID, document: UUID, version: int
) -> int:
    row = conn.execute(
        f"SELECT data, key_version FROM {table} WHERE tenant_id = %s AND document_id = %s FOR UPDATE",
        (tenant, document),
    ).fetchone()
    if row is None or row["key_version"] == version:
        return 0  # gone meanwhile (indexed, deleted), or re-uploaded under the new key
    plain = sealer.open(conn, tenant, document, bytes(row["data"]), row["key_version"])
    sealed = _encrypt(sealer.data_key(conn, tenant, version), plain, _original_aad(tenant, document))
    conn.execute(
        f"UPDATE {table} SET data = %s, key_version = %s WHERE tenant_id = %s AND document_id = %s",
        (sealed, version, tenant, document),
    )
    return 1


def destroy_tenant_key(conn: psycopg.Connection[Any], tenant_id: UUID) -> int:
    """Crypto-shred a tenant in the database: delete its encrypted originals and every version of
    its data key, on the caller's connection (inside its transaction, if one is open). The copies
    in old backups become unreadable when the caller then destroys the tenant's key-store secrets
    (:meth:`KeyStore.destroy_tenant`), which those backups never held.

    The connection must see the tenant's rows: scoped to it, to all tenants, or the owner's.
    :returns: how many data key versions were destroyed.
    """
    for table in CIPHERTEXT_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant_id,))
    return len(
        conn.execute(
            "DELETE FROM tenant_keys WHERE tenant_id = %s RETURNING version", (tenant_id,)
        ).fetchall()
    )
