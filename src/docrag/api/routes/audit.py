"""The audit log for the tenant's admins (issue 14.7, docs/audit.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from docrag.api.access_schemas import AuditEventOut, AuditPage, Moment
from docrag.api.deps import AdminDep, RuntimeDep
from docrag.api.inputs import Text
from docrag.store.audit import MAX_PAGE, AuditFilter, AuditLog

router = APIRouter(prefix="/v1", tags=["audit"])

_BIGINT = 2**63 - 1


@router.get("/audit")
def list_audit(
    runtime: RuntimeDep,
    caller: AdminDep,
    action: Annotated[Text | None, Query(max_length=64, description="e.g. key.created")] = None,
    actor: Annotated[Text | None, Query(max_length=200, description="key:<id>, user:<id> or cli")] = None,
    target: Annotated[Text | None, Query(max_length=400, description="The id or name acted on")] = None,
    since: Annotated[Moment | None, Query(description="Events at or after")] = None,
    until: Annotated[Moment | None, Query(description="Events before")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=_BIGINT, description="The previous page's next_before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditPage:
    """The tenant's audit events, newest first, a page at a time."""
    query = AuditFilter(action, actor, target, since, until, before, limit)
    events = AuditLog(runtime.store).events(caller.tenant_id, query)
    next_before = events[-1].id if len(events) == limit else None
    return AuditPage(events=[AuditEventOut.model_validate(e) for e in events], next_before=next_before)
