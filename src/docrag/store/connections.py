"""The pooled connections every PostgreSQL store aggregate runs its statements on.

A checkout names the tenant whose rows it may see (row security, store/tenancy.py); a lost
server is :class:`~docrag.errors.Unavailable` (503), never a bare driver error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from docrag.errors import Unavailable
from docrag.store.replica import ReadReplica
from docrag.store.tenancy import ALL_TENANTS, Scope, scope_to


def _configure(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


class PgConnections:
    """A connection pool over a migrated database; the aggregates (store/postgres.py) share it."""

    ALL_TENANTS = ALL_TENANTS

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        read_url: str | None = None,
        read_retry_seconds: float = 10.0,
    ) -> None:
        self.url = url
        self.pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, configure=_configure, open=True, timeout=30
        )
        #: The search path's reads (``read=True``) go to this standby when set (store/replica.py).
        self.replica = (
            ReadReplica(
                read_url,
                min_size=min_size,
                max_size=max_size,
                retry_seconds=read_retry_seconds,
                configure=_configure,
            )
            if read_url
            else None
        )
        #: Dimensions whose HNSW index is known to exist (store/embedding_index.py).
        self._indexed_dims: set[int] = set()
        #: What each pooled connection's session holds (store/tenancy.py): a checkout of the same
        #: tenant in the same context sends nothing. Only scope_to sets these settings, outside
        #: any transaction, and nothing resets a pooled session; a replaced connection is a new
        #: key.
        self._scopes: WeakKeyDictionary[psycopg.Connection[Any], Scope] = WeakKeyDictionary()
        #: The hnsw.ef_search each pooled session holds (store/chunk_search.py's dense search).
        self._ef_search: WeakKeyDictionary[psycopg.Connection[Any], int] = WeakKeyDictionary()

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()
        self.pool.close()

    @contextmanager
    def _conn(
        self, tenant: object = None, *, read: bool = False, autocommit: bool = False
    ) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection of ``tenant``; ``read``: the search path's, on the read replica if
        any, in autocommit mode; ``autocommit``: that mode on the primary. A read of one statement
        then costs no BEGIN and COMMIT round trips; a read of several in one snapshot opens
        ``conn.transaction()``, as it would anyway."""
        try:
            pooled = self.replica.connection(self.pool) if read and self.replica else self.pool.connection()
            with pooled as conn:
                conn.row_factory = dict_row
                # Row security's tenant for this checkout (store/tenancy.py).
                self._scopes[conn] = scope_to(conn, tenant, held=self._scopes.get(conn))
                if not (read or autocommit):
                    yield conn
                    return
                conn.autocommit = True
                try:
                    yield conn
                finally:
                    # Back as the pool's other users expect it; a broken connection, whose state
                    # can't be changed, is dropped by the pool.
                    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                        conn.autocommit = False
        except psycopg.OperationalError as exc:
            raise Unavailable(f"database unavailable: {exc}") from exc

    def connection(
        self, tenant: object = None, *, read: bool = False, autocommit: bool = False
    ) -> AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection with dict rows whose rows are ``tenant``'s (or ALL_TENANTS');
        ``read``: the search path's (the read replica's when one is configured and up), in
        autocommit mode; ``autocommit``: that mode on the primary."""
        return self._conn(tenant, read=read, autocommit=autocommit)

    def ping(self) -> None:
        with self._conn() as conn:
            conn.execute("SELECT 1")
