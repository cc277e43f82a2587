"""Subject rights (issue 21.3, docs/subject-rights.md): export a tenant's data, or one
principal's, as a streamed zip; erase a whole tenant.

Only a tenant's admin may do either, and only in its own tenant: another tenant's id is
answered 404 as if it did not exist (a stranger learns nothing). An operator erases any
tenant with ``docrag tenants delete T --yes`` on the database itself.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from docrag.api.audit import AuditDep
from docrag.api.deps import AdminDep, RuntimeDep
from docrag.api.documented import errors
from docrag.errors import NotFound
from docrag.store.audit import DATA_EXPORTED, TENANT_ERASED
from docrag.store.export import export_zip
from docrag.store.subject import TenantErasure

router = APIRouter(tags=["subject rights"])


class TenantErasedOut(BaseModel):
    tenant_id: UUID
    #: Rows deleted, per table.
    rows: dict[str, int]


@router.get(
    "/v1/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The export, a zip file"}},
)
def export(
    runtime: RuntimeDep,
    caller: AdminDep,
    audit: AuditDep,
    actor: UUID | None = Query(
        default=None, description="Only what this principal (an API key's id) created"
    ),
) -> StreamingResponse:
    """The tenant's documents (metadata, text, chunks, originals still stored), conversations,
    answers and feedback as a zip of JSON files with a manifest of counts and checksums;
    with ``actor``, only that principal's conversations, answers and feedback."""
    name = f"docrag-export-{caller.tenant_id}{'-' + str(actor) if actor else ''}.zip"
    audit.record(DATA_EXPORTED, actor or caller.tenant_id, {"scope": "actor" if actor else "tenant"})
    return StreamingResponse(
        export_zip(runtime.store, caller.tenant_id, actor, sealer=runtime.jobs.sealer),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.delete("/v1/tenants/{tenant_id}", responses=errors(404))
def erase_tenant(tenant_id: UUID, runtime: RuntimeDep, caller: AdminDep, audit: AuditDep) -> TenantErasedOut:
    """Erase the caller's own tenant: every row of it in every table (keys included: this key
    stops working), its cached answers in Redis and in memory. Cannot be undone."""
    if tenant_id != caller.tenant_id:
        raise NotFound(f"tenant {tenant_id} not found", code="tenant_not_found")

    def record(conn: psycopg.Connection[Any], erasure: TenantErasure) -> None:
        # In the erasing transaction; the event outlives the tenant (the audit log keeps it).
        audit.record_on(conn, TENANT_ERASED, tenant_id, {"rows": sum(erasure.rows.values())})

    erased = runtime.erase_tenant(tenant_id, on_erased=record)
    return TenantErasedOut(tenant_id=erased.tenant_id, rows=erased.rows)
