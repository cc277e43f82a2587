"""Users and their sessions, as the store returns them (docs/auth.md). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    tenant_id: UUID
    email: str
    role: str  # admin | editor | reader
    created_at: str
    disabled: bool
    mfa_enabled: bool


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a login checks: the user, its password hash and its TOTP state."""

    user: User
    password_hash: str
    totp_secret: str | None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: UUID
    created_at: str
    refreshed_at: str
    expires_at: str
    user_agent: str | None
    address: str | None
    mfa: bool


@dataclass(frozen=True, slots=True)
class SessionCaller:
    """What a request's session check finds: the user's role now, and whether it may only enroll."""

    role: str
    enrollment_only: bool


@dataclass(frozen=True, slots=True)
class Refreshed:
    """The session a refresh token belonged to (its successor is stored)."""

    tenant_id: UUID
    user_id: UUID
    session_id: UUID
