"""Sign-in, sessions and MFA (docs/auth.md). Login and refresh are public (class ``login`` of the
rate limits, per client address); the rest are a signed-in user's own routes (api/roles.py)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from docrag.api.audit import AuditDep
from docrag.api.auth_schemas import (
    LoginIn,
    MfaEnrollmentOut,
    MfaVerifyIn,
    RefreshIn,
    SessionOut,
    TokensOut,
    UserOut,
)
from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.documented import GUARDED, WITH_BODY, errors
from docrag.api.guard import RATE_LIMITS_STATE
from docrag.api.lockout import LoginLockout, account
from docrag.api.ratelimit import RateLimits
from docrag.errors import InvalidCredentials, InvalidMfaCode, NotFound
from docrag.identity.accounts import Accounts
from docrag.services import Runtime
from docrag.store.audit import (
    ANONYMOUS_ACTOR,
    LOGIN_FAILED,
    LOGIN_SUCCEEDED,
    MFA_ENABLED,
    MFA_ENROLLMENT_STARTED,
    SESSION_ENDED,
    AuditLog,
    user_actor,
)

router = APIRouter(prefix="/v1/auth", tags=["auth"])

LOGIN_ERRORS = errors(
    e401="`invalid_credentials` (wrong tenant, email or password, or a disabled user: never says which),"
    " `mfa_required` (send `totp`), `invalid_mfa_code` (wrong, used or replayed)",
    e429="`account_locked` (too many failed logins for this account) or `rate_limited`: wait Retry-After",
)
REFRESH_ERRORS = errors(
    e401="`unauthenticated` (unknown or expired refresh token, or its session is over) or"
    " `refresh_token_reused` (it was spent before: its whole session is revoked now)",
    e429="`rate_limited`: wait Retry-After seconds",
)
LOCKOUT_STATE = "login_lockout"


@router.post("/login", responses={**WITH_BODY, **LOGIN_ERRORS})
async def login(body: LoginIn, request: Request, runtime: RuntimeDep) -> TokensOut:
    """Sign in with an email and password (and, with MFA, a code) in a tenant (by name)."""
    name = account(body.tenant, body.email)
    limits: RateLimits | None = getattr(request.app.state, RATE_LIMITS_STATE, None)
    if limits is not None:
        await limits.admit_account(name)
    lockout: LoginLockout = getattr(request.app.state, LOCKOUT_STATE)
    await lockout.before(name)
    try:
        tokens = await run_in_threadpool(
            runtime.identity.login,
            body.tenant,
            body.email,
            body.password,
            body.totp,
            user_agent=request.headers.get("user-agent"),
            address=request.client.host if request.client else None,
        )
    except (InvalidCredentials, InvalidMfaCode) as exc:
        await lockout.failed(name)
        await run_in_threadpool(_login_failed, runtime, request, body.tenant, body.email, exc.code)
        raise
    await lockout.succeeded(name)
    AuditLog(runtime.store).record(
        tokens.tenant_id,
        LOGIN_SUCCEEDED,
        actor=user_actor(tokens.user_id),
        target=str(tokens.session_id),
        source=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )
    return TokensOut.model_validate(tokens)


def _login_failed(runtime: Runtime, request: Request, tenant: str, email: str, code: str) -> None:
    """A failed login in the audit log of the tenant it named (none: nothing to record it in). The
    target is the account's user id when the email is one; an email typed for no user is not kept."""
    users = runtime.identity.users
    tenant_id = users.tenant_id(tenant)
    if tenant_id is None:
        return
    found = users.credentials(tenant_id, email)
    AuditLog(runtime.store).record(
        tenant_id,
        LOGIN_FAILED,
        actor=ANONYMOUS_ACTOR,
        target=str(found.user.id) if found is not None else None,
        detail={"reason": code, "known_account": found is not None},
        source=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )


@router.post("/refresh", responses={**WITH_BODY, **REFRESH_ERRORS})
def refresh(body: RefreshIn, runtime: RuntimeDep) -> TokensOut:
    """Spend a refresh token: a new access token and the next refresh token."""
    return TokensOut.model_validate(runtime.identity.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=GUARDED)
def logout(runtime: RuntimeDep, caller: PrincipalDep, audit: AuditDep) -> None:
    """End this session: its access and refresh tokens stop working now."""
    runtime.identity.logout(caller)
    audit.record(SESSION_ENDED, caller.session_id, {"by": "logout"})


@router.get("/sessions", responses=GUARDED)
def list_sessions(runtime: RuntimeDep, caller: PrincipalDep) -> list[SessionOut]:
    """This user's live sessions, newest first."""
    return [SessionOut.of(s, caller.session_id) for s in runtime.identity.live_sessions(caller)]


@router.delete(
    "/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses={**GUARDED, **errors(404)}
)
def delete_session(session_id: UUID, runtime: RuntimeDep, caller: PrincipalDep, audit: AuditDep) -> None:
    """End one of this user's sessions (another device's, or this one)."""
    if not runtime.identity.revoke_session(caller, session_id):
        raise NotFound(f"session {session_id} not found", code="session_not_found")
    audit.record(SESSION_ENDED, session_id, {"by": "revoked"})


@router.post("/mfa/enroll", responses={**GUARDED, **errors(409)})
def mfa_enroll(runtime: RuntimeDep, caller: PrincipalDep, audit: AuditDep) -> MfaEnrollmentOut:
    """Start MFA: a TOTP secret (URI and QR code) and recovery codes, shown once. It takes effect
    when POST /v1/auth/mfa/verify confirms a code; enrolling again before that starts over."""
    enrollment = Accounts(runtime.identity).enroll(caller, issuer=runtime.settings.jwt_issuer)
    audit.record(MFA_ENROLLMENT_STARTED, caller.user_id)
    return MfaEnrollmentOut.model_validate(enrollment)


@router.post("/mfa/verify", responses={**GUARDED, **WITH_BODY, **errors(409)})
def mfa_verify(body: MfaVerifyIn, runtime: RuntimeDep, caller: PrincipalDep, audit: AuditDep) -> UserOut:
    """Confirm the enrollment with the app's current code: MFA is on from now."""
    user = Accounts(runtime.identity).confirm(caller, body.code)
    audit.record(MFA_ENABLED, caller.user_id)
    return UserOut.model_validate(user)
