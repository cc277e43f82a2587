"""Tenant key-encryption secrets, kept outside the database and its backups (docs/encryption.md).

A tenant data key is wrapped by its master key *and* a secret of this store (store/crypto.py),
one secret per data key version. A backup of the database holds the wrapped data key but never
the secret, so destroying the secret here (a tenant's erasure, a retired version) makes every
copy of that data key, and of the originals under it, unreadable, in every old backup too.

Layout, under ``DOCRAG_KEY_STORE_DIR`` (unset: ``<data_dir>/keystore``), folders 0700 and files
0600::

    <tenant id>/<kek id>.kek     MAGIC + 32 random bytes; the kek id (32 hex digits) is random,
                                 and the ``tenant_keys`` row names it

Every API process, worker and ``docrag crypto`` command on one database must see the same
folder (a shared volume). Names are random, so writers on several machines need no lock: a
secret is written to a temporary name, fsynced, renamed, and its folder fsynced, before the row
that names it is inserted. Nothing is cached in memory: a secret destroyed by one process is
gone for every other at its next read.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from pathlib import Path
from uuid import UUID

from docrag.errors import KeyDestroyed, KeyUnavailable
from docrag.settings import Settings

SECRET_BYTES = 32
MAGIC = b"docrag-kek/v1\n"
SUFFIX = ".kek"
FOLDER = "keystore"
_ID = re.compile(r"^[0-9a-f]{32}$")
_log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> None:
    """The folder, made 0700 if missing (its parents too)."""
    if path.is_dir():
        return
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode goes through the umask
    _fsync_dir(path.parent)


class KeyStore:
    """The key-encryption secrets of every tenant, one file each (see the module's docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"KeyStore({str(self.root)!r})"

    def _path(self, tenant: UUID, kek_id: str) -> Path:
        if not _ID.match(kek_id):  # it comes from a database row: never a path of its choosing
            raise KeyUnavailable(f"key-store id {kek_id!r} of tenant {tenant} is malformed")
        return self.root / str(tenant) / (kek_id + SUFFIX)

    def create(self, tenant: UUID) -> tuple[str, bytes]:
        """A new secret for ``tenant``, durably written: :returns: its id and its bytes."""
        kek_id = secrets.token_hex(16)
        secret = secrets.token_bytes(SECRET_BYTES)
        path = self._path(tenant, kek_id)
        _private_dir(self.root)
        _private_dir(path.parent)
        tmp = path.with_name(f".{kek_id}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, MAGIC + secret)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return kek_id, secret

    def read(self, tenant: UUID, kek_id: str) -> bytes:
        """The secret.

        :raises KeyDestroyed: it was destroyed (the tenant erased, the version retired).
        :raises KeyUnavailable: the store itself is missing (not mounted?) or the file is damaged.
        """
        path = self._path(tenant, kek_id)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            if not self.root.is_dir():
                raise KeyUnavailable(
                    f"the key store {self.root} does not exist: DOCRAG_KEY_STORE_DIR must name the"
                    " folder every API and worker shares (docs/encryption.md)"
                ) from None
            raise KeyDestroyed(
                f"the key-store secret {kek_id} of tenant {tenant} was destroyed (the tenant was"
                " erased, or the data key version retired): what it wrapped is unreadable"
            ) from None
        except OSError as exc:
            raise KeyUnavailable(f"the key store {self.root} can't be read: {exc.strerror}") from None
        if len(blob) != len(MAGIC) + SECRET_BYTES or not blob.startswith(MAGIC):
            raise KeyUnavailable(f"the key-store secret {kek_id} of tenant {tenant} is damaged")
        return blob[len(MAGIC) :]

    def destroy(self, tenant: UUID, kek_id: str) -> bool:
        """Overwrite the secret with random bytes, then unlink it (False: it was not there)."""
        return _shred(self._path(tenant, kek_id))

    def destroy_tenant(self, tenant: UUID) -> int:
        """Destroy every secret of ``tenant`` (its erasure); :returns: how many there were."""
        folder = self.root / str(tenant)
        if not folder.is_dir():
            return 0
        done = sum(_shred(path) for path in sorted(folder.iterdir()) if path.is_file())
        try:
            folder.rmdir()
            _fsync_dir(self.root)
        except OSError:  # a writer racing the erasure made a file: its row can't commit (no tenant)
            _log.warning("key store: %s is not empty after the tenant's erasure", folder)
        return done

    def ids(self, tenant: UUID, *, older_than: float = 0.0) -> list[str]:
        """The ids of the tenant's secrets written more than ``older_than`` seconds ago."""
        folder = self.root / str(tenant)
        if not folder.is_dir():
            return []
        now = time.time()
        return sorted(
            p.name.removesuffix(SUFFIX)
            for p in folder.iterdir()
            if p.name.endswith(SUFFIX) and now - p.stat().st_mtime > older_than
        )


def _shred(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        os.write(fd, secrets.token_bytes(size))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    _fsync_dir(path.parent)
    return True


def open_keystore(settings: Settings) -> KeyStore:
    """The configured key store (nothing is made on disk until a first secret is written)."""
    if settings.key_store_dir is None and settings.database_url is not None:
        _log.warning(
            "no DOCRAG_KEY_STORE_DIR: tenant key secrets go to %s; every API and worker on this"
            " database must share that folder (docs/encryption.md)",
            settings.resolved_key_store_dir(),
        )
    return KeyStore(settings.resolved_key_store_dir())
