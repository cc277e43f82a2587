"""API keys over HTTP (issue 14.4, docs/keys.md): made, listed and revoked by the tenant's admins."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fastapi import APIRouter, status

from docrag.api.access_schemas import KeyIn, KeyOut, NewKeyOut
from docrag.api.audit import AuditDep
from docrag.api.deps import AdminDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.roles import RANK
from docrag.errors import Conflict, Forbidden, InvalidRequest
from docrag.store.audit import KEY_CREATED, KEY_REVOKED
from docrag.store.keys import KeyStore

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=status.HTTP_201_CREATED, responses={**WITH_BODY, **errors(404)})
def create_key(body: KeyIn, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> NewKeyOut:
    """A new API key, its secret shown this once. Its role is at most the caller's; with
    ``collections`` it sees those collections and nothing else."""
    if RANK[body.role] > RANK[caller.role]:
        raise Forbidden(f"a {caller.role} key may not create an {body.role} key")
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise InvalidRequest("expires_at must be in the future")
    ids = None
    if body.collections is not None:
        ids = [
            runtime.store.collection_by_name(caller.tenant_id, n).id for n in dict.fromkeys(body.collections)
        ]
    key, secret = KeyStore(runtime.store).create(
        caller.tenant_id,
        body.name,
        body.role,
        collections=ids,
        expires_at=body.expires_at,
        created_by=caller.key_id,
    )
    audit.record(
        KEY_CREATED,
        key.id,
        {
            "name": key.name,
            "role": key.role,
            "collections": key.collections,
            "expires_at": _iso(key.expires_at),
        },
    )
    return NewKeyOut(**KeyOut.model_validate(key).model_dump(), key=secret)


@router.get("")
def list_keys(runtime: RuntimeDep, caller: AdminDep) -> list[KeyOut]:
    """Every key of the tenant, revoked ones included; never a secret."""
    return [KeyOut.model_validate(k) for k in KeyStore(runtime.store).list(caller.tenant_id)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def revoke_key(key_id: UUID, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> None:
    """Revoke the key: refused from the next request on, in every API process. Not the caller's
    own key (409 `own_key`): another admin key revokes it, so no slip locks a tenant out."""
    if key_id == caller.key_id:
        raise Conflict("a key may not revoke itself: revoke it with another admin key", code="own_key")
    key = KeyStore(runtime.store).revoke(caller.tenant_id, key_id)
    audit.record(KEY_REVOKED, key.id, {"name": key.name, "role": key.role})


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
