"""The audit trail of a request: :class:`~docrag.store.audit.AuditLog` events that carry the
caller, its client address and the request id without each route gathering them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request

from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.domain import Principal
from docrag.store.audit import AuditLog, append, key_actor, user_actor


def actor_of(caller: Principal) -> str:
    """The audit log's actor: the signed-in user, else the API key."""
    if caller.user_id is not None:
        return user_actor(caller.user_id)
    assert caller.key_id is not None  # a principal is a user or a key
    return key_actor(caller.key_id)


class RequestAudit:
    def __init__(self, log: AuditLog, caller: Principal, source: str | None, request_id: str | None) -> None:
        self._log = log
        self._caller = caller
        self._source = source
        self._request_id = request_id

    def record(self, action: str, target: object = None, detail: Mapping[str, object] | None = None) -> None:
        """Append ``action`` on ``target`` by the caller (store/audit.py): no document text, no secret."""
        with self._log.connection(self._caller.tenant_id) as conn:
            self.record_on(conn, action, target, detail)

    def record_on(
        self,
        conn: psycopg.Connection[Any],
        action: str,
        target: object = None,
        detail: Mapping[str, object] | None = None,
    ) -> None:
        """:meth:`record` inside the caller's transaction (store/audit.py ``append``)."""
        append(
            conn,
            self._caller.tenant_id,
            action,
            actor=actor_of(self._caller),
            target=None if target is None else str(target),
            detail=detail,
            source=self._source,
            request_id=self._request_id,
        )


def get_audit(request: Request, runtime: RuntimeDep, caller: PrincipalDep) -> RequestAudit:
    source = request.client.host if request.client is not None else None
    request_id = getattr(request.state, "request_id", None)
    return RequestAudit(AuditLog(runtime.store), caller, source, request_id)


AuditDep = Annotated[RequestAudit, Depends(get_audit)]
