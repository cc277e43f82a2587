"""The SQL of users, their TOTP state and recovery codes, and the tenant's MFA rule (migration
0090). Every statement names its tenant, in its WHERE clause and as the checkout's row-security
tenant; the one cross-tenant read is a tenant's id by its name, for a login."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from docrag.domain.identity import Credentials, User
from docrag.errors import Conflict, NotFound
from docrag.store.postgres import Store
from docrag.store.tenancy import ALL_TENANTS

_COLUMNS = "id, tenant_id, email, role, created_at, disabled_at, totp_enabled_at"


def _missing(user_id: UUID) -> NotFound:
    return NotFound(f"user {user_id} not found", code="user_not_found")


class UserStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def tenant_id(self, name: str) -> UUID | None:
        """The tenant of this name, if there is one (a login names its tenant)."""
        with self._store.connection(ALL_TENANTS) as conn:
            row = conn.execute("SELECT id FROM tenants WHERE name = %s", (name,)).fetchone()
        return None if row is None else UUID(str(row["id"]))

    def create(self, tenant_id: UUID, email: str, password_hash: str, role: str) -> User:
        """:raises Conflict: ``email_taken``, the tenant has a user of that email (in any case)."""
        try:
            with self._store.connection(tenant_id) as conn:
                row = conn.execute(
                    "INSERT INTO users (tenant_id, email, password_hash, role) VALUES (%s, %s, %s, %s)"
                    f" RETURNING {_COLUMNS}",
                    (tenant_id, email, password_hash, role),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"this tenant already has a user {email!r}", code="email_taken") from None
        assert row is not None
        return _user(row)

    def list(self, tenant_id: UUID) -> list[User]:
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM users WHERE tenant_id = %s ORDER BY created_at, id", (tenant_id,)
            ).fetchall()
        return [_user(r) for r in rows]

    def get(self, tenant_id: UUID, user_id: UUID) -> User:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM users WHERE tenant_id = %s AND id = %s", (tenant_id, user_id)
            ).fetchone()
        if row is None:
            raise _missing(user_id)
        return _user(row)

    def credentials(self, tenant_id: UUID, email: str) -> Credentials | None:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, password_hash, totp_secret FROM users"
                " WHERE tenant_id = %s AND lower(email) = lower(%s)",
                (tenant_id, email),
            ).fetchone()
        return None if row is None else _credentials(row)

    def credentials_of(self, tenant_id: UUID, user_id: UUID) -> Credentials:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS}, password_hash, totp_secret FROM users WHERE tenant_id = %s AND id = %s",
                (tenant_id, user_id),
            ).fetchone()
        if row is None:
            raise _missing(user_id)
        return _credentials(row)

    def update(self, tenant_id: UUID, user_id: UUID, *, role: str | None, disabled: bool | None) -> User:
        """Change the role and/or disable (or enable again) the user."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE users SET role = coalesce(%(role)s::text, role), updated_at = now(),"
                " disabled_at = CASE WHEN %(disabled)s::boolean IS NULL THEN disabled_at"
                "   WHEN %(disabled)s::boolean THEN coalesce(disabled_at, now()) END"
                f" WHERE tenant_id = %(t)s AND id = %(u)s RETURNING {_COLUMNS}",
                {"role": role, "disabled": disabled, "t": tenant_id, "u": user_id},
            ).fetchone()
        if row is None:
            raise _missing(user_id)
        return _user(row)

    def anonymize(self, tenant_id: UUID, user_id: UUID, password_hash: str) -> None:
        """Erase the account's personal data in one transaction, keeping the row (the service may
        not delete users: their ids stay referenced): the email becomes ``erased-<id>@erased.invalid``,
        the password a random one's hash, TOTP and recovery codes go, the user is disabled, and its
        sessions are revoked with their device and address forgotten.

        :raises NotFound: no such user in this tenant."""
        with self._store.connection(tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "UPDATE users SET email = 'erased-' || id::text || '@erased.invalid', password_hash = %s,"
                " totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL,"
                " totp_last_step = NULL, disabled_at = coalesce(disabled_at, now()), updated_at = now()"
                " WHERE tenant_id = %s AND id = %s RETURNING id",
                (password_hash, tenant_id, user_id),
            ).fetchone()
            if row is None:
                raise _missing(user_id)
            conn.execute(
                "UPDATE sessions SET revoked_at = coalesce(revoked_at, now()),"
                " revoked_reason = coalesce(revoked_reason, 'user erased'), user_agent = NULL, address = NULL"
                " WHERE tenant_id = %s AND user_id = %s",
                (tenant_id, user_id),
            )
            conn.execute(
                "DELETE FROM recovery_codes WHERE tenant_id = %s AND user_id = %s", (tenant_id, user_id)
            )

    def set_password(self, tenant_id: UUID, user_id: UUID, password_hash: str) -> None:
        with self._store.connection(tenant_id) as conn:
            conn.execute(
                "UPDATE users SET password_hash = %s, password_changed_at = now(), updated_at = now()"
                " WHERE tenant_id = %s AND id = %s",
                (password_hash, tenant_id, user_id),
            )

    # -- MFA -------------------------------------------------------------------------------

    def begin_totp(self, tenant_id: UUID, user_id: UUID, secret: str, recovery: Sequence[bytes]) -> None:
        """Keep ``secret`` until a code confirms it, and make ``recovery`` the user's only codes."""
        with self._store.connection(tenant_id) as conn, conn.transaction():
            conn.execute(
                "UPDATE users SET totp_pending_secret = %s, updated_at = now()"
                " WHERE tenant_id = %s AND id = %s AND totp_enabled_at IS NULL",
                (secret, tenant_id, user_id),
            )
            conn.execute(
                "DELETE FROM recovery_codes WHERE tenant_id = %s AND user_id = %s", (tenant_id, user_id)
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES (%s, %s, %s)",
                    [(tenant_id, user_id, h) for h in recovery],
                )

    def pending_totp(self, tenant_id: UUID, user_id: UUID) -> str | None:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT totp_pending_secret FROM users"
                " WHERE tenant_id = %s AND id = %s AND totp_enabled_at IS NULL",
                (tenant_id, user_id),
            ).fetchone()
        return None if row is None else row["totp_pending_secret"]

    def confirm_totp(self, tenant_id: UUID, user_id: UUID, secret: str, step: int) -> bool:
        """Make the pending ``secret`` the user's, ``step`` its first code; False: it was not pending."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL,"
                " totp_enabled_at = now(), totp_last_step = %s, updated_at = now()"
                " WHERE tenant_id = %s AND id = %s AND totp_pending_secret = %s AND totp_enabled_at IS NULL"
                " RETURNING id",
                (step, tenant_id, user_id, secret),
            ).fetchone()
        return row is not None

    def accept_step(self, tenant_id: UUID, user_id: UUID, step: int) -> bool:
        """Record ``step`` as the last one used; False if it (or a later one) already was: a replay."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE users SET totp_last_step = %s WHERE tenant_id = %s AND id = %s"
                " AND (totp_last_step IS NULL OR totp_last_step < %s) RETURNING id",
                (step, tenant_id, user_id, step),
            ).fetchone()
        return row is not None

    def use_recovery_code(self, tenant_id: UUID, user_id: UUID, code_hash: bytes) -> bool:
        """Spend the code; False if the user has no such unused code."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE recovery_codes SET used_at = now() WHERE tenant_id = %s AND user_id = %s"
                " AND code_hash = %s AND used_at IS NULL RETURNING code_hash",
                (tenant_id, user_id, code_hash),
            ).fetchone()
        return row is not None

    # -- the tenant's rule -----------------------------------------------------------------

    def mfa_required_for_admins(self, tenant_id: UUID) -> bool:
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "SELECT mfa_required_for_admins FROM tenants WHERE id = %s", (tenant_id,)
            ).fetchone()
        return bool(row and row["mfa_required_for_admins"])

    def set_mfa_required_for_admins(self, tenant_id: UUID, required: bool) -> bool:
        with self._store.connection(tenant_id) as conn:
            conn.execute(
                "UPDATE tenants SET mfa_required_for_admins = %s WHERE id = %s", (required, tenant_id)
            )
        return required


def _user(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        tenant_id=row["tenant_id"],
        email=row["email"],
        role=row["role"],
        created_at=row["created_at"].isoformat(),
        disabled=row["disabled_at"] is not None,
        mfa_enabled=row["totp_enabled_at"] is not None,
    )


def _credentials(row: dict[str, Any]) -> Credentials:
    return Credentials(_user(row), row["password_hash"], row["totp_secret"])
