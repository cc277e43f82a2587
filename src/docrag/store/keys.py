"""API keys (issue 14.4): made, listed and revoked over HTTP or by ``docrag keys create``.

A key is ``drg_`` and 43 random URL-safe characters, shown once and stored as its SHA-256 (a
random 256-bit secret needs no slow hash). Every request looks its key up again, so a revocation
or an expiry holds from the very next request in every process (no cache to invalidate); the
lookup writes ``last_used_at`` at most once a minute per key. A key may be scoped to collections
(``collections``: their ids); the API's guard hands that scope to every store query of the request
(store/tenancy.py).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from docrag.domain import Principal
from docrag.errors import NotFound
from docrag.store.tenancy import ALL_TENANTS

if TYPE_CHECKING:
    from docrag.store.connections import PgConnections

ROLES = ("reader", "editor", "admin")
#: How stale ``last_used_at`` may get before a request writes it again.
LAST_USED_PRECISION_SECONDS = 60

_COLUMNS = (
    "k.id, k.name, k.role, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.created_by,"
    " CASE WHEN k.collections IS NULL THEN NULL ELSE ARRAY(SELECT c.name FROM collections c"
    "  WHERE c.tenant_id = k.tenant_id AND c.id = ANY (k.collections) ORDER BY c.name) END AS collections"
)


def new_api_key() -> str:
    return "drg_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key, never its secret."""

    id: UUID
    name: str
    role: str
    #: Names of the collections it is scoped to (None: every collection of its tenant).
    collections: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: UUID | None


def _key(row: dict[str, Any]) -> ApiKey:
    names = row.pop("collections")
    return ApiKey(collections=None if names is None else tuple(names), **row)


def _key_missing(key_id: UUID) -> NotFound:
    return NotFound(f"API key {key_id} not found", code="key_not_found")


class KeyStore:
    def __init__(self, store: PgConnections) -> None:
        self._store = store

    def create(
        self,
        tenant_id: UUID,
        name: str,
        role: str,
        *,
        collections: Sequence[UUID] | None = None,
        expires_at: datetime | None = None,
        created_by: UUID | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time it exists in clear)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        secret = new_api_key()
        scope = None if collections is None else sorted(set(collections))
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO api_keys (tenant_id, name, key_hash, role, collections, expires_at, created_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (tenant_id, name, hash_key(secret), role, scope, expires_at, created_by),
            ).fetchone()
            assert row is not None
        return self.get(tenant_id, row["id"]), secret

    def get(self, tenant_id: UUID, key_id: UUID) -> ApiKey:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys k WHERE k.tenant_id = %s AND k.id = %s", (tenant_id, key_id)
            ).fetchone()
        if row is None:
            raise _key_missing(key_id)
        return _key(row)

    def list(self, tenant_id: UUID) -> list[ApiKey]:
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys k WHERE k.tenant_id = %s ORDER BY k.created_at, k.id",
                (tenant_id,),
            ).fetchall()
        return [_key(row) for row in rows]

    def revoke(self, tenant_id: UUID, key_id: UUID) -> ApiKey:
        """Revoke the key (again: a no-op); it is refused from the next request on."""
        with self._store.connection(tenant_id) as conn:
            found = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                " WHERE tenant_id = %s AND id = %s RETURNING id",
                (tenant_id, key_id),
            ).fetchone()
        if found is None:
            raise _key_missing(key_id)
        return self.get(tenant_id, key_id)

    def principal(self, key: str) -> Principal | None:
        """The caller a key proves: None when it is unknown, revoked or expired."""
        digest = hash_key(key)
        # Autocommit: the lookup and the rare last_used_at write need no transaction together
        # (the write only marks the key seen), and every request pays for this checkout.
        with self._store.connection(ALL_TENANTS, autocommit=True) as conn:
            row = conn.execute(
                "SELECT id, tenant_id, role, collections, (last_used_at IS NULL"
                "  OR last_used_at < now() - make_interval(secs => %s)) AS stale"
                " FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"
                " AND (expires_at IS NULL OR expires_at > now())",
                (LAST_USED_PRECISION_SECONDS, digest),
            ).fetchone()
            if row is not None and row["stale"]:
                conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (row["id"],))
        if row is None:
            return None
        scope = row["collections"]
        return Principal(
            key_id=row["id"],
            tenant_id=row["tenant_id"],
            role=row["role"],
            collections=None if scope is None else frozenset(scope),
        )
