"""Tenants, and the API keys the first start and the CLI make (store/keys.py has the rest)."""

from __future__ import annotations

from uuid import UUID

from docrag.domain import Principal
from docrag.store.connections import PgConnections
from docrag.store.keys import KeyStore, hash_key
from docrag.store.tenancy import ALL_TENANTS

DEFAULT_TENANT = "default"
DEFAULT_COLLECTION = "default"


class TenantRows(PgConnections):
    def ensure_tenant(self, name: str) -> UUID:
        with self._conn(ALL_TENANTS) as conn:
            row = conn.execute(
                "INSERT INTO tenants (name) VALUES (%s) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name"
                " RETURNING id",
                (name,),
            ).fetchone()
            assert row is not None
            return UUID(str(row["id"]))

    def count_api_keys(self) -> int:
        with self._conn(ALL_TENANTS) as conn:
            row = conn.execute("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL").fetchone()
            return int(row["n"]) if row else 0

    def add_api_key(self, tenant_id: UUID, name: str, key: str, role: str) -> UUID:
        with self._conn(tenant_id) as conn:
            row = conn.execute(
                "INSERT INTO api_keys (tenant_id, name, key_hash, role) VALUES (%s, %s, %s, %s) RETURNING id",
                (tenant_id, name, hash_key(key), role),
            ).fetchone()
            assert row is not None
            return UUID(str(row["id"]))

    def principal_for_key(self, key: str) -> Principal | None:
        """None for an unknown, revoked or expired key (store/keys.py)."""
        return KeyStore(self).principal(key)
