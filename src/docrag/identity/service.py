"""Sign-in and the session checks of every request that carries an access token.

A login proves a password (and, for a user with MFA, a TOTP or recovery code) and starts a
session: an access token (a JWT naming the session in ``sid``, short-lived) and an opaque refresh
token (stored as its SHA-256, spent by its first use). Each request's token is verified and its
session looked up (one indexed row): a revoked session, a disabled user or a changed role take
effect on the next request. Lockout and slowdown of failed logins are the API's
(``api/lockout.py``): they need the client's account name before any of this runs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from docrag.domain import Principal
from docrag.domain.identity import Credentials, SessionInfo
from docrag.errors import Forbidden, InvalidCredentials, InvalidMfaCode, MfaRequired, Unauthenticated
from docrag.identity import mfa
from docrag.identity.passwords import (
    burn_verification,
    could_be_a_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from docrag.identity.tokens import KeyRing, access_claims
from docrag.settings import Settings
from docrag.store.protocol_identity import SessionRecords, UserAccounts

#: One answer for a wrong email, a wrong password, an unknown tenant and a disabled user.
WRONG = "wrong email or password"


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    session_id: UUID
    user_id: UUID
    tenant_id: UUID


def new_refresh_token() -> str:
    return "drr_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def user_of(principal: Principal) -> tuple[UUID, UUID]:
    """(user id, session id) of a signed-in caller.

    :raises Forbidden: the caller is an API key, which has no user nor session."""
    if principal.user_id is None or principal.session_id is None:
        raise Forbidden("this needs a signed-in user's access token, not an API key")
    return principal.user_id, principal.session_id


class Identity:
    def __init__(
        self, users: UserAccounts, sessions: SessionRecords, settings: Settings, keys: KeyRing | None = None
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.keys = keys if keys is not None else KeyRing.from_settings(settings)

    # -- requests ----------------------------------------------------------------------------

    def principal_for_token(self, token: str) -> Principal:
        """The caller an access token proves.

        :raises Unauthenticated: a token that is not valid (``TokenExpired`` past its expiry), or
            whose session is over: signed out, revoked, expired, or its user disabled."""
        s = self.settings
        claims = self.keys.verify(token, issuer=s.jwt_issuer, audience=s.jwt_audience)
        try:
            tenant, session, user = UUID(claims["tid"]), UUID(claims["sid"]), UUID(claims["sub"])
        except (TypeError, ValueError, AttributeError):
            raise Unauthenticated("invalid access token: malformed claims") from None
        caller = self.sessions.caller(tenant, session, user)
        if caller is None:
            raise Unauthenticated("this session has ended (signed out, revoked or its user disabled)")
        return Principal(
            key_id=None,
            tenant_id=tenant,
            role=caller.role,
            user_id=user,
            session_id=session,
            enrollment_only=caller.enrollment_only,
        )

    # -- sessions ----------------------------------------------------------------------------

    def login(
        self,
        tenant: str,
        email: str,
        password: str,
        code: str | None,
        *,
        user_agent: str | None = None,
        address: str | None = None,
    ) -> Tokens:
        """:raises InvalidCredentials: wrong tenant, email or password, or a disabled user (the
            same answer, after the same work, for each; a password outside the policy is no
            account's, and is refused unhashed whoever the email names).
        :raises MfaRequired: right password, the user has MFA, and no code came.
        :raises InvalidMfaCode: a wrong, spent or replayed code."""
        if not could_be_a_password(password):
            raise InvalidCredentials(WRONG)
        tenant_id = self.users.tenant_id(tenant)
        found = self.users.credentials(tenant_id, email) if tenant_id is not None else None
        if found is None:
            burn_verification(password)
            raise InvalidCredentials(WRONG)
        if not verify_password(found.password_hash, password) or found.user.disabled:
            raise InvalidCredentials(WRONG)
        user = found.user
        if needs_rehash(found.password_hash):
            self.users.set_password(user.tenant_id, user.id, hash_password(password))
        if found.totp_secret is not None:
            if not code:
                raise MfaRequired(
                    "this account has MFA: send the code of your authenticator app (or a recovery"
                    " code) as 'totp'"
                )
            self._second_factor(found, code)
        return self.start_session(
            user.tenant_id, user.id, mfa=found.totp_secret is not None, user_agent=user_agent, address=address
        )

    def _second_factor(self, found: Credentials, code: str) -> None:
        user = found.user
        assert found.totp_secret is not None
        if mfa.is_totp(code):
            step = mfa.matching_step(found.totp_secret, code)
            if step is None:
                raise InvalidMfaCode("wrong authentication code")
            if not self.users.accept_step(user.tenant_id, user.id, step):
                raise InvalidMfaCode("this code was already used: wait for the next one")
        elif not self.users.use_recovery_code(user.tenant_id, user.id, mfa.recovery_hash(code)):
            raise InvalidMfaCode("wrong or already used recovery code")

    def start_session(
        self, tenant_id: UUID, user_id: UUID, *, mfa: bool, user_agent: str | None, address: str | None
    ) -> Tokens:
        s = self.settings
        refresh = new_refresh_token()
        session = self.sessions.create(
            tenant_id,
            user_id,
            lifetime=timedelta(seconds=s.session_max_seconds),
            refresh_hash=token_hash(refresh),
            refresh_lifetime=timedelta(seconds=s.refresh_token_seconds),
            user_agent=user_agent[:500] if user_agent else None,
            address=address[:100] if address else None,
            mfa=mfa,
        )
        access = self._access(tenant_id, user_id, session)
        return Tokens(access, refresh, s.access_token_seconds, session, user_id, tenant_id)

    def refresh(self, refresh_token: str) -> Tokens:
        """A new access token and the next refresh token; the one given is spent.

        :raises RefreshTokenReused: it was spent already: its whole session is revoked.
        :raises Unauthenticated: unknown, expired, or its session is over."""
        following = new_refresh_token()
        found = self.sessions.rotate(
            token_hash(refresh_token),
            token_hash(following),
            timedelta(seconds=self.settings.refresh_token_seconds),
        )
        access = self._access(found.tenant_id, found.user_id, found.session_id)
        seconds = self.settings.access_token_seconds
        return Tokens(access, following, seconds, found.session_id, found.user_id, found.tenant_id)

    def _access(self, tenant_id: UUID, user_id: UUID, session_id: UUID) -> str:
        s = self.settings
        claims = access_claims(
            user_id=user_id,
            tenant_id=tenant_id,
            session_id=session_id,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            seconds=s.access_token_seconds,
        )
        return self.keys.sign(claims)

    def logout(self, caller: Principal) -> None:
        user, session = user_of(caller)
        self.sessions.revoke(caller.tenant_id, user, session, "signed out")

    def live_sessions(self, caller: Principal) -> list[SessionInfo]:
        user, _ = user_of(caller)
        return self.sessions.live(caller.tenant_id, user)

    def revoke_session(self, caller: Principal, session_id: UUID) -> bool:
        """Revoke one of the caller's own sessions; False: it has none of that id (live)."""
        user, _ = user_of(caller)
        return self.sessions.revoke(caller.tenant_id, user, session_id, "revoked")
