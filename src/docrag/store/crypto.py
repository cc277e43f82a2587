"""Uploaded originals encrypted at rest with a data key per tenant (docs/encryption.md).

Each tenant has data keys (``tenant_keys``, migration 0110), numbered versions, stored only wrapped
by a master key (store/keyring.py) whose id the row names. An original (``uploads.data`` while it
is queued, ``originals.data`` when a PII collection keeps it) is AES-256-GCM under its tenant's
newest data key, the row naming the key's version. The associated data binds the ciphertext to
its tenant and document: moved to another row, it fails to decrypt.

Rotation without downtime: :func:`rotate_master` rewraps every data key under the current master
key (the old one unwraps until it is removed from the configuration); :func:`rotate_tenant` adds a
data key version, re-encrypts the tenant's stored originals under it, and drops the versions
nothing uses any more. Crypto-shredding: :func:`destroy_tenant_key` deletes a tenant's data keys
(and its ciphertexts); see docs/encryption.md for backups taken before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docrag.errors import KeyUnavailable
from docrag.store.keyring import KEY_BYTES, MasterKeys
from docrag.store.postgres import Store

_NONCE = 12
#: The tables holding a tenant's encrypted originals: (tenant_id, document_id, data, key_version).
CIPHERTEXT_TABLES = ("uploads", "originals")


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


def _key_aad(tenant: UUID, version: int) -> bytes:
    return f"docrag/data-key/v1|{tenant}|{version}".encode()


def _original_aad(tenant: UUID, document: UUID) -> bytes:
    return f"docrag/original/v1|{tenant}|{document}".encode()


class Sealer:
    """Encrypts and decrypts a tenant's originals on the caller's connection (its transaction)."""

    def __init__(self, master: MasterKeys) -> None:
        self.master = master

    def seal(self, conn: psycopg.Connection[Any], tenant: UUID, document: UUID, data: bytes) -> Sealed:
        version, key = self._current(conn, tenant)
        return Sealed(_encrypt(key, data, _original_aad(tenant, document)), version)

    def open(
        self, conn: psycopg.Connection[Any], tenant: UUID, document: UUID, data: bytes, version: int | None
    ) -> bytes:
        """The plaintext of a stored original (``version`` None: stored before encryption, as is)."""
        if version is None:
            return data
        return _decrypt(
            self.data_key(conn, tenant, version), data, _original_aad(tenant, document), "an original"
        )

    def _unwrap(self, tenant: UUID, row: dict[str, Any]) -> bytes:
        master = self.master.key(row["master_key_id"])
        return _decrypt(master, bytes(row["wrapped"]), _key_aad(tenant, row["version"]), "a data key")

    def _wrap(self, tenant: UUID, version: int, key: bytes) -> bytes:
        return _encrypt(self.master.key(self.master.current), key, _key_aad(tenant, version))

    def data_key(self, conn: psycopg.Connection[Any], tenant: UUID, version: int) -> bytes:
        row = conn.execute(
            "SELECT version, master_key_id, wrapped FROM tenant_keys WHERE tenant_id = %s AND version = %s",
            (tenant, version),
        ).fetchone()
        if row is None:
            raise KeyUnavailable(f"data key version {version} of tenant {tenant} is gone (shredded)")
        return self._unwrap(tenant, row)

    def _current(self, conn: psycopg.Connection[Any], tenant: UUID) -> tuple[int, bytes]:
        select = (
            "SELECT version, master_key_id, wrapped FROM tenant_keys WHERE tenant_id = %s"
            " ORDER BY version DESC LIMIT 1"
        )
        row = conn.execute(select, (tenant,)).fetchone()
        if row is None:
            self.add_version(conn, tenant, 1)
            row = conn.execute(select, (tenant,)).fetchone()
            assert row is not None
        return row["version"], self._unwrap(tenant, row)

    def add_version(self, conn: psycopg.Connection[Any], tenant: UUID, version: int) -> bool:
        """A fresh data key as ``version`` (False: that version exists already, a racing writer's)."""
        key = os.urandom(KEY_BYTES)
        row = conn.execute(
            "INSERT INTO tenant_keys (tenant_id, version, master_key_id, wrapped) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING version",
            (tenant, version, self.master.current, self._wrap(tenant, version, key)),
        ).fetchone()
        return row is not None

    def rewrap(self, conn: psycopg.Connection[Any], tenant: UUID, row: dict[str, Any]) -> bool:
        """Rewrap one data key row under the current master key (False: the row changed meanwhile)."""
        key = self._unwrap(tenant, row)
        done = conn.execute(
            "UPDATE tenant_keys SET master_key_id = %s, wrapped = %s"
            " WHERE tenant_id = %s AND version = %s AND master_key_id = %s RETURNING version",
            (
                self.master.current,
                self._wrap(tenant, row["version"], key),
                tenant,
                row["version"],
                row["master_key_id"],
            ),
        ).fetchone()
        return done is not None


def rotate_master(store: Store, master: MasterKeys) -> int:
    """Rewrap every data key not under the current master key; :returns: how many were rewrapped."""
    sealer = Sealer(master)
    with store.connection(store.ALL_TENANTS) as conn:
        rows = conn.execute(
            "SELECT tenant_id, version, master_key_id, wrapped FROM tenant_keys WHERE master_key_id <> %s",
            (master.current,),
        ).fetchall()
        done = 0
        for row in rows:
            with conn.transaction():
                done += sealer.rewrap(conn, row["tenant_id"], row)
    return done


def rotate_tenant(store: Store, master: MasterKeys, tenant: UUID) -> TenantRotation:
    """A new data key for the tenant; its stored originals re-encrypted under it; old versions
    that nothing uses any more deleted. Uploads go on meanwhile (each row is re-encrypted alone)."""
    sealer = Sealer(master)
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
        old = conn.execute(
            "SELECT version FROM tenant_keys WHERE tenant_id = %s AND version < %s ORDER BY version",
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
            except psycopg.errors.ForeignKeyViolation:
                kept.append(r["version"])  # an original still under it (queued during the rotation)
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
    """Crypto-shred a tenant: delete its encrypted originals and every version of its data key,
    on the caller's connection (inside its transaction, if one is open). A copy of the
    ciphertexts elsewhere (an old backup) can no longer be decrypted with the live database's
    keys; docs/encryption.md says how to retire the master key that wrapped the copy's data key.

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
