"""What identity (identity/service.py, accounts.py) asks of the store: users and sign-in sessions.
The rules of store/protocol.py hold here too (kept apart so that neither module passes 400 lines):
every method takes the caller's tenant but a login's tenant lookup by name and a refresh token's
lookup, and no method returns another tenant's rows. store/users.py and sessions.py implement
them; tests/support/store_conformance_users.py and store_conformance_sessions.py are their
conformance suites.

A ``user_id`` passed with a tenant is one of that tenant's users unless a method says what
happens otherwise (the service passes the caller's own, or one it has just read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol
from uuid import UUID

from docrag.domain.identity import Credentials, Refreshed, SessionCaller, SessionInfo, User


class UserAccounts(Protocol):
    """A tenant's users, their passwords and MFA state (store/users.py). Hashes are opaque here:
    the store keeps and compares what it is given."""

    def tenant_id(self, name: str) -> UUID | None:
        """The tenant of that name; None when there is none (a login names its tenant)."""
        ...

    def create(self, tenant_id: UUID, email: str, password_hash: str, role: str) -> User:
        """An enabled user without MFA. :raises Conflict: ``email_taken`` when the tenant has a
        user of that email, in whatever case (another tenant may have one)."""
        ...

    def list(self, tenant_id: UUID) -> list[User]:
        """The tenant's users, oldest first (erased ones included: their rows stay)."""
        ...

    def get(self, tenant_id: UUID, user_id: UUID) -> User:
        """:raises NotFound: ``user_not_found``, also for another tenant's user."""
        ...

    def credentials(self, tenant_id: UUID, email: str) -> Credentials | None:
        """What a login checks, by email in any case; None when the tenant has no such user."""
        ...

    def credentials_of(self, tenant_id: UUID, user_id: UUID) -> Credentials:
        """:raises NotFound: ``user_not_found``."""
        ...

    def update(self, tenant_id: UUID, user_id: UUID, *, role: str | None, disabled: bool | None) -> User:
        """Set the role, and disable (True) or enable (False) the user; None leaves either as it
        is. Sessions are not revoked here (the service does it), but ``SessionRecords.caller``
        proves no disabled user. :raises NotFound: ``user_not_found``."""
        ...

    def anonymize(self, tenant_id: UUID, user_id: UUID, password_hash: str) -> None:
        """Erase the account's personal data, keeping its row (its id stays referenced): the email
        becomes one that no login can match (``erased-<id>@erased.invalid``), so the address is
        free again; the password becomes ``password_hash``; MFA and the recovery codes go; the user
        is disabled; its sessions are revoked with their device and address forgotten.
        :raises NotFound: ``user_not_found``."""
        ...

    def set_password(self, tenant_id: UUID, user_id: UUID, password_hash: str) -> None:
        """Replace the user's password hash; for an id that is not the tenant's user, nothing
        changes (no error: the service has just read the user)."""
        ...

    def begin_totp(self, tenant_id: UUID, user_id: UUID, secret: str, recovery: Sequence[bytes]) -> None:
        """Keep ``secret`` pending until :meth:`confirm_totp` (replacing one pending before), and
        make ``recovery`` (hashes) the user's only recovery codes. On a user whose MFA is on, the
        secret is not kept but the codes are still replaced; the service refuses to enroll then."""
        ...

    def pending_totp(self, tenant_id: UUID, user_id: UUID) -> str | None:
        """The secret waiting for its first code; None when none waits or MFA is on."""
        ...

    def confirm_totp(self, tenant_id: UUID, user_id: UUID, secret: str, step: int) -> bool:
        """Turn MFA on with the pending ``secret``, ``step`` being its first code's time step (so
        spent). :returns: False, changing nothing, when ``secret`` is not the one pending."""
        ...

    def accept_step(self, tenant_id: UUID, user_id: UUID, step: int) -> bool:
        """Spend TOTP time step ``step``. :returns: False when it, or a later one, was spent
        already (a replayed code), or the user is not the tenant's."""
        ...

    def use_recovery_code(self, tenant_id: UUID, user_id: UUID, code_hash: bytes) -> bool:
        """Spend a recovery code by its hash. :returns: False when the user has no such unused code."""
        ...

    def mfa_required_for_admins(self, tenant_id: UUID) -> bool:
        """Whether the tenant's admins must enroll in MFA before anything else; False until set."""
        ...

    def set_mfa_required_for_admins(self, tenant_id: UUID, required: bool) -> bool:
        """:returns: the rule as now set (``required``)."""
        ...


class SessionRecords(Protocol):
    """Sign-in sessions and their single-use refresh tokens (store/sessions.py). A refresh token
    comes alone, so :meth:`rotate` finds its tenant; tokens are stored as the hashes given."""

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
        """A session of the user, over ``lifetime`` from now (refreshing never extends it), with its
        first refresh token, usable for ``refresh_lifetime`` but never past the session; its id."""
        ...

    def caller(self, tenant_id: UUID, session_id: UUID, user_id: UUID) -> SessionCaller | None:
        """The session's user as of now: its role, and whether it may only enroll in MFA (an admin
        without MFA in a tenant that requires it). None when the session is not this user's in
        this tenant, is revoked or expired, or the user is disabled."""
        ...

    def rotate(self, token_hash: bytes, next_hash: bytes, lifetime: timedelta) -> Refreshed:
        """Spend the refresh token and store ``next_hash`` as its session's next one, usable for
        ``lifetime`` but never past the session. :returns: whose session it is.

        :raises RefreshTokenReused: the token was spent before (a thief's or a replay): its
            session is revoked now.
        :raises Unauthenticated: no such token, it expired, or its session is over (revoked,
            expired, its user disabled); the session is left as it was."""
        ...

    def revoke(self, tenant_id: UUID, user_id: UUID, session_id: UUID, reason: str) -> bool:
        """End one of the user's sessions. :returns: False when the user has no unrevoked session
        of that id."""
        ...

    def revoke_all(self, tenant_id: UUID, user_id: UUID, reason: str, *, keep: UUID | None = None) -> int:
        """End every unrevoked session of the user but ``keep``. :returns: how many were ended."""
        ...

    def live(self, tenant_id: UUID, user_id: UUID) -> list[SessionInfo]:
        """The user's sessions neither revoked nor expired, newest first."""
        ...
