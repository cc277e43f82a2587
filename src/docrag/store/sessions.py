"""The SQL of sessions and their refresh tokens (migration 0090).

Each statement names its tenant, but one: a refresh token comes alone, so its lookup is a named
cross-tenant statement (like an API key's), and everything after it stays in the token's tenant.
A refresh spends its token and stores the next in one transaction, with the token's row locked:
of two refreshes racing with one token, the second finds it spent, as a thief's would be.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from docrag.domain.identity import Refreshed, SessionCaller, SessionInfo
from docrag.errors import RefreshTokenReused, Unauthenticated
from docrag.store.postgres import Store
from docrag.store.tenancy import ALL_TENANTS

_CALLER = (
    "SELECT u.role, u.role = 'admin' AND u.totp_enabled_at IS NULL AND t.mfa_required_for_admins"
    " AS enrollment_only"
    " FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id"
    " JOIN tenants t ON t.id = s.tenant_id"
    " WHERE s.tenant_id = %s AND s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL"
    " AND s.expires_at > now() AND u.disabled_at IS NULL"
)


class SessionStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(
        self,
        tenant_id: UUID,
        user_id: UUID,
        *,
        lifetime: timedelta,
        refresh_hash: bytes,
        refresh_lifetime: timedelta,
        user_agent: str | None,
        address: str | None,
        mfa: bool,
    ) -> UUID:
        """A new session with its first refresh token; its id."""
        now = datetime.now(UTC)
        expires = now + lifetime
        with self._store.connection(tenant_id) as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO sessions (tenant_id, user_id, expires_at, user_agent, address, mfa)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (tenant_id, user_id, expires, user_agent, address, mfa),
            ).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, expires_at)"
                " VALUES (%s, %s, %s, %s)",
                (refresh_hash, tenant_id, row["id"], min(expires, now + refresh_lifetime)),
            )
        return UUID(str(row["id"]))

    def caller(self, tenant_id: UUID, session_id: UUID, user_id: UUID) -> SessionCaller | None:
        """The session's user as of now, if the session is live and its user enabled (one
        indexed lookup per request that carries an access token)."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(_CALLER, (tenant_id, session_id, user_id)).fetchone()
        return None if row is None else SessionCaller(row["role"], bool(row["enrollment_only"]))

    def rotate(self, token_hash: bytes, next_hash: bytes, lifetime: timedelta) -> Refreshed:
        """Spend the refresh token and store ``next_hash`` as its session's next one.

        :raises RefreshTokenReused: the token was spent before: its session is revoked now.
        :raises Unauthenticated: no such token, or its session (or user) is over.
        """
        reused: Refreshed | None = None
        with self._store.connection(ALL_TENANTS) as conn, conn.transaction():
            row = conn.execute(
                "SELECT r.tenant_id, r.session_id, r.spent_at, r.expires_at > now() AS live, s.user_id"
                " FROM refresh_tokens r JOIN sessions s ON s.tenant_id = r.tenant_id AND s.id = r.session_id"
                " WHERE r.token_hash = %s FOR UPDATE OF r",
                (token_hash,),
            ).fetchone()
            if row is None:
                raise Unauthenticated("unknown refresh token")
            found = Refreshed(row["tenant_id"], row["user_id"], row["session_id"])
            if row["spent_at"] is not None:
                _revoke(conn, found.tenant_id, found.session_id, "refresh token reused")
                reused = found
            else:
                session = conn.execute(
                    "SELECT s.expires_at FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id"
                    " AND u.id = s.user_id WHERE s.tenant_id = %s AND s.id = %s AND s.revoked_at IS NULL"
                    " AND s.expires_at > now() AND u.disabled_at IS NULL",
                    (found.tenant_id, found.session_id),
                ).fetchone()
                if session is None or not row["live"]:
                    raise Unauthenticated("this session has ended: sign in again")
                conn.execute(
                    "UPDATE refresh_tokens SET spent_at = now() WHERE token_hash = %s", (token_hash,)
                )
                conn.execute(
                    "INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, expires_at)"
                    " VALUES (%s, %s, %s, least(%s, now() + %s))",
                    (next_hash, found.tenant_id, found.session_id, session["expires_at"], lifetime),
                )
                conn.execute(
                    "UPDATE sessions SET refreshed_at = now() WHERE tenant_id = %s AND id = %s",
                    (found.tenant_id, found.session_id),
                )
        if reused is not None:  # raised after the revocation is committed
            raise RefreshTokenReused(
                "this refresh token was already used: its session is revoked; sign in again"
            )
        return found

    def revoke(self, tenant_id: UUID, user_id: UUID, session_id: UUID, reason: str) -> bool:
        """Revoke one of the user's live sessions; False if it has none of that id."""
        with self._store.connection(tenant_id) as conn:
            row = conn.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = %s WHERE tenant_id = %s"
                " AND user_id = %s AND id = %s AND revoked_at IS NULL RETURNING id",
                (reason, tenant_id, user_id, session_id),
            ).fetchone()
        return row is not None

    def revoke_all(self, tenant_id: UUID, user_id: UUID, reason: str, *, keep: UUID | None = None) -> int:
        """Revoke every live session of the user but ``keep``; how many."""
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                "UPDATE sessions SET revoked_at = now(), revoked_reason = %s WHERE tenant_id = %s"
                " AND user_id = %s AND revoked_at IS NULL AND id IS DISTINCT FROM %s RETURNING id",
                (reason, tenant_id, user_id, keep),
            ).fetchall()
        return len(rows)

    def live(self, tenant_id: UUID, user_id: UUID) -> list[SessionInfo]:
        """The user's sessions not revoked nor expired, newest first."""
        with self._store.connection(tenant_id) as conn:
            rows = conn.execute(
                "SELECT id, created_at, refreshed_at, expires_at, user_agent, address, mfa FROM sessions"
                " WHERE tenant_id = %s AND user_id = %s AND revoked_at IS NULL AND expires_at > now()"
                " ORDER BY created_at DESC, id",
                (tenant_id, user_id),
            ).fetchall()
        return [_session(r) for r in rows]


def _revoke(conn: Any, tenant_id: UUID, session_id: UUID, reason: str) -> None:
    conn.execute(
        "UPDATE sessions SET revoked_at = coalesce(revoked_at, now()),"
        " revoked_reason = coalesce(revoked_reason, %s) WHERE tenant_id = %s AND id = %s",
        (reason, tenant_id, session_id),
    )


def _session(row: dict[str, Any]) -> SessionInfo:
    return SessionInfo(
        id=row["id"],
        created_at=row["created_at"].isoformat(),
        refreshed_at=row["refreshed_at"].isoformat(),
        expires_at=row["expires_at"].isoformat(),
        user_agent=row["user_agent"],
        address=row["address"],
        mfa=row["mfa"],
    )
