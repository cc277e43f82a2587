from __future__ import annotations

from fastapi import APIRouter, status

from docrag.api.audit import AuditDep
from docrag.api.deps import AdminDep, PrincipalDep, RuntimeDep, WriterDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.inputs import Text
from docrag.api.schemas import CollectionIn, CollectionOut, PiiIO, RetentionIO
from docrag.store.audit import COLLECTION_CREATED, COLLECTION_DELETED, PII_POLICY_CHANGED, RETENTION_CHANGED
from docrag.store.pii_policy import PiiPolicies, PiiPolicy
from docrag.store.retention import Retention, RetentionStore

router = APIRouter(prefix="/v1/collections", tags=["collections"])


@router.post("", status_code=status.HTTP_201_CREATED, responses={**WITH_BODY, **errors(409)})
def create_collection(
    body: CollectionIn, runtime: RuntimeDep, caller: WriterDep, audit: AuditDep
) -> CollectionOut:
    e = runtime.embedder
    collection = runtime.store.create_collection(caller.tenant_id, body.name, e.model_id, e.dim)
    audit.record(COLLECTION_CREATED, collection.id, {"name": collection.name})
    return CollectionOut.model_validate(collection)


@router.get("")
def list_collections(runtime: RuntimeDep, caller: PrincipalDep) -> list[CollectionOut]:
    return [CollectionOut.model_validate(c) for c in runtime.store.list_collections(caller.tenant_id)]


@router.get("/{name}", responses=errors(404))
def get_collection(name: Text, runtime: RuntimeDep, caller: PrincipalDep) -> CollectionOut:
    return CollectionOut.model_validate(runtime.store.collection_by_name(caller.tenant_id, name))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404, 409))
def delete_collection(name: Text, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> None:
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    runtime.delete_collection(caller.tenant_id, collection.id)
    audit.record(COLLECTION_DELETED, collection.id, {"name": collection.name})


@router.get("/{name}/retention", responses=errors(404))
def get_retention(name: Text, runtime: RuntimeDep, caller: PrincipalDep) -> RetentionIO:
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    policy = RetentionStore(runtime.store).policy(caller.tenant_id, collection.id)
    return RetentionIO(documents_days=policy.documents_days, answers_days=policy.answers_days)


@router.put("/{name}/retention", responses={**WITH_BODY, **errors(404)})
def set_retention(
    name: Text, body: RetentionIO, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep
) -> RetentionIO:
    """Set how long the collection keeps documents and answers; `docrag retention` purges (scheduled)."""
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    policy = RetentionStore(runtime.store).set_policy(
        caller.tenant_id, collection.id, Retention(body.documents_days, body.answers_days)
    )
    audit.record(
        RETENTION_CHANGED,
        collection.id,
        {
            "name": collection.name,
            "documents_days": policy.documents_days,
            "answers_days": policy.answers_days,
        },
    )
    return RetentionIO(documents_days=policy.documents_days, answers_days=policy.answers_days)


@router.get("/{name}/pii", responses=errors(404))
def get_pii(name: Text, runtime: RuntimeDep, caller: PrincipalDep) -> PiiIO:
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    policy = PiiPolicies(runtime.store).policy(caller.tenant_id, collection.id)
    return PiiIO(redact=policy.redact, keep_original=policy.keep_original)


@router.put("/{name}/pii", responses={**WITH_BODY, **errors(404)})
def set_pii(name: Text, body: PiiIO, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> PiiIO:
    """Redact PII in the documents indexed from now on, keeping their originals encrypted or not."""
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    policy = PiiPolicies(runtime.store).set_policy(
        caller.tenant_id, collection.id, PiiPolicy(body.redact, body.keep_original)
    )
    audit.record(
        PII_POLICY_CHANGED,
        collection.id,
        {"name": collection.name, "redact": policy.redact, "keep_original": policy.keep_original},
    )
    return PiiIO(redact=policy.redact, keep_original=policy.keep_original)
