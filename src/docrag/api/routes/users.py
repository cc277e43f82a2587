"""Users of the caller's tenant (admins), a user's own account, and the tenant's settings."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from docrag.api.audit import AuditDep
from docrag.api.auth_schemas import (
    PasswordChangedOut,
    PasswordChangeIn,
    TenantSettingsIO,
    UserIn,
    UserOut,
    UserPatch,
)
from docrag.api.deps import AdminDep, PrincipalDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.identity.accounts import Accounts
from docrag.store.audit import (
    PASSWORD_CHANGED,
    TENANT_SETTINGS_CHANGED,
    USER_CHANGED,
    USER_CREATED,
    USER_REMOVED,
)

router = APIRouter(prefix="/v1", tags=["users"])


@router.post("/users", status_code=status.HTTP_201_CREATED, responses={**WITH_BODY, **errors(409)})
def create_user(body: UserIn, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> UserOut:
    """Add a user to this tenant (emails are unique per tenant, whatever their case)."""
    user = Accounts(runtime.identity).create(caller.tenant_id, body.email, body.password, body.role)
    audit.record(USER_CREATED, user.id, {"role": user.role})
    return UserOut.model_validate(user)


@router.get("/users")
def list_users(runtime: RuntimeDep, caller: AdminDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in Accounts(runtime.identity).list(caller.tenant_id)]


@router.get("/users/me")
def me(runtime: RuntimeDep, caller: PrincipalDep) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(Accounts(runtime.identity).me(caller))


@router.post("/users/me/password", responses=WITH_BODY)
def change_password(
    body: PasswordChangeIn, runtime: RuntimeDep, caller: PrincipalDep, audit: AuditDep
) -> PasswordChangedOut:
    """Change the signed-in user's password (the current one is asked for); the user's other
    sessions end."""
    revoked = Accounts(runtime.identity).change_password(caller, body.current_password, body.new_password)
    audit.record(PASSWORD_CHANGED, caller.user_id, {"revoked_sessions": revoked})
    return PasswordChangedOut(revoked_sessions=revoked)


@router.patch("/users/{user_id}", responses={**WITH_BODY, **errors(404, 409)})
def update_user(
    user_id: UUID, body: UserPatch, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep
) -> UserOut:
    """Change a user's role, or disable (their sessions end at once) or enable them."""
    user = Accounts(runtime.identity).update(caller, user_id, role=body.role, disabled=body.disabled)
    audit.record(USER_CHANGED, user_id, {"role": body.role, "disabled": body.disabled})
    return UserOut.model_validate(user)


class UserRemovedOut(BaseModel):
    user_id: UUID
    #: With ``erase``: rows of what the user created that were deleted, per kind.
    erased: dict[str, int]


@router.delete("/users/{user_id}", responses=errors(404, 409))
def remove_user(
    user_id: UUID,
    runtime: RuntimeDep,
    caller: AdminDep,
    audit: AuditDep,
    erase: bool = Query(
        False, description="Also erase what the user created: conversations, answers, feedback"
    ),
) -> UserRemovedOut:
    """Remove a user: their email, password, MFA secrets and recovery codes are erased and their
    sessions end (the account row stays, anonymised, as ids refer to it). With ``erase=true``
    also everything they created (docs/subject-rights.md), and cached answers holding their questions.
    The audit log records it, with counts only."""
    Accounts(runtime.identity).remove(caller, user_id)
    counts: dict[str, int] = {}
    if erase:
        erased = runtime.erase_actor(caller.tenant_id, user_id)
        counts = {
            "conversations": erased.conversations,
            "answers": erased.answers,
            "feedback": erased.feedback,
        }
    audit.record(USER_REMOVED, user_id, {"erase": erase, **counts})
    return UserRemovedOut(user_id=user_id, erased=counts)


@router.get("/tenant/settings")
def get_tenant_settings(runtime: RuntimeDep, caller: AdminDep) -> TenantSettingsIO:
    required = runtime.identity.users.mfa_required_for_admins(caller.tenant_id)
    return TenantSettingsIO(mfa_required_for_admins=required)


@router.put("/tenant/settings", responses=WITH_BODY)
def set_tenant_settings(
    body: TenantSettingsIO, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep
) -> TenantSettingsIO:
    """Require MFA of this tenant's admins (from their next request on) or not."""
    required = runtime.identity.users.set_mfa_required_for_admins(
        caller.tenant_id, body.mfa_required_for_admins
    )
    audit.record(TENANT_SETTINGS_CHANGED, caller.tenant_id, {"mfa_required_for_admins": required})
    return TenantSettingsIO(mfa_required_for_admins=required)
