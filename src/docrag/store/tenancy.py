"""Row-level security's tenant (migration 0071): every pooled checkout names the tenant whose
rows its statements may see and write, as the session setting ``docrag.tenant``.

The store's own WHERE clauses scope every query by tenant; row security is the backstop for
one that forgets. It binds the service's role (store/roles.py: neither owner, superuser nor
BYPASSRLS); the owner, who runs migrations, is not bound. A checkout without a tenant sees no
rows. The few statements that are cross-tenant by nature (an API key's lookup, the count of
keys at first start, the default tenant, a login's tenant by its name, a refresh token's lookup,
a worker claiming the next job and extending its leases, the queue gauges) ask for
:data:`ALL_TENANTS` by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import psycopg

from docrag import tracing

#: The ``docrag.tenant`` value for the named cross-tenant statements.
ALL_TENANTS = "*"

#: The collections the request's API key is scoped to (None: all of its tenant's). The API's guard
#: sets it for the request; every checkout in that context passes it on as ``docrag.collections``,
#: which the store's WHERE clauses and migration 0100's restrictive policies read.
collection_scope: ContextVar[frozenset[UUID] | None] = ContextVar("docrag_collection_scope", default=None)


def scope_setting(collections: Iterable[UUID] | None) -> str:
    """The ``docrag.collections`` value: '' (no scope) or a PostgreSQL uuid[] literal."""
    if collections is None:
        return ""
    return "{" + ",".join(sorted(str(c) for c in collections)) + "}"


#: What :func:`scope_to` sets: the tenant, the collections and (while tracing) the traceparent.
Scope = tuple[str, str, str | None]


def scope_to(conn: psycopg.Connection[Any], tenant: object, *, held: Scope | None = None) -> Scope:
    """Set the connection's tenant (a tenant id, :data:`ALL_TENANTS`, or None: no rows), and
    return what it set. ``held``: what the session holds already (what the last call on this
    connection returned); when it is what this checkout needs, nothing is sent.

    Session-wide, set outside any transaction so that the caller's transactions begin and end as
    before, and so that no rollback undoes it: what this returns stays the session's until the
    next call."""
    # The current span, for the jobs this checkout queues (migration 0073); '' clears what an
    # earlier checkout of this connection left. None: not tracing, left as it is.
    traceparent = (tracing.traceparent() or "") if tracing.enabled() else None
    scope = ("" if tenant is None else str(tenant), scope_setting(collection_scope.get()), traceparent)
    if scope == held:
        return scope
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        if traceparent is not None:
            conn.execute(
                "SELECT set_config('docrag.tenant', %s, false), set_config('docrag.collections', %s, false),"
                " set_config('docrag.traceparent', %s, false)",
                scope,
            )
        else:
            conn.execute(
                "SELECT set_config('docrag.tenant', %s, false), set_config('docrag.collections', %s, false)",
                scope[:2],
            )
    finally:
        conn.autocommit = autocommit
    return scope
