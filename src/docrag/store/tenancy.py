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

from typing import Any

import psycopg

from docrag import tracing

#: The ``docrag.tenant`` value for the named cross-tenant statements.
ALL_TENANTS = "*"


def scope_to(conn: psycopg.Connection[Any], tenant: object) -> None:
    """Set the connection's tenant (a tenant id, :data:`ALL_TENANTS`, or None: no rows).

    Session-wide, set at every checkout, outside any transaction so that the caller's
    transactions begin and end as before."""
    autocommit = conn.autocommit
    conn.autocommit = True
    scope = "" if tenant is None else str(tenant)
    try:
        if tracing.enabled():
            # The current span, for the jobs this checkout queues (migration 0073); '' clears
            # what an earlier checkout of this connection left.
            conn.execute(
                "SELECT set_config('docrag.tenant', %s, false), set_config('docrag.traceparent', %s, false)",
                (scope, tracing.traceparent() or ""),
            )
        else:
            conn.execute("SELECT set_config('docrag.tenant', %s, false)", (scope,))
    finally:
        conn.autocommit = autocommit
