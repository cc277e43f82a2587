"""The read replica (``DOCRAG_DATABASE_READ_URL``): a second connection pool, on a streaming
standby of the primary, for the search path's reads (the Store's methods that pass ``read=True``).

A replica is a physical copy of the primary: the same roles, the same row-security policies,
the same functions; the Store names the tenant on a replica connection exactly as on a primary
one (store/tenancy.py), so row security binds it alike.

Searches see the replica's lag: a document indexed a moment ago may not be found yet, a deleted
one may still be found (hydration drops it once the delete is replayed). While the replica is
down, or answers no connection within :data:`CHECKOUT_SECONDS` (all of its connections busy),
searches go to the primary, and the replica is tried again ``retry_seconds`` later: a replica
outage costs the primary load, never an answer. A replica connection that breaks in the middle
of a search fails that search (503 ``database_unavailable``, as a primary's would) and sends
the next ones to the primary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from docrag.instruments import replica_fallbacks

_log = logging.getLogger(__name__)

#: How long a search waits for a replica connection before it takes a primary one instead.
CHECKOUT_SECONDS = 2.0
#: How long the health check waits for one.
_HEALTH_SECONDS = 1.0

# Seconds since the last replayed transaction, 0 when everything received is replayed (an idle
# primary sends nothing, which is no lag); and whether replay is paused.
_STATUS_SQL = """
SELECT pg_is_in_recovery() AS standby,
  CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
       ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0.0) END::float8 AS lag,
  CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'not paused' END AS pause
"""


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """What the health checks report: ``ok``, ``not_a_standby`` (it answers but is no replica:
    the read URL names a primary) or ``down`` (with the error's class), the replay lag in seconds,
    whether replay is paused, and whether searches use the replica now."""

    status: str
    in_use: bool
    lag_seconds: float | None = None
    replay_paused: bool | None = None
    error: str | None = None

    def detail(self) -> dict[str, Any]:
        found = {"status": self.status, "in_use": self.in_use}
        extra = {"lag_seconds": self.lag_seconds, "replay_paused": self.replay_paused, "error": self.error}
        return found | {k: v for k, v in extra.items() if v is not None}


class ReadReplica:
    def __init__(
        self,
        url: str,
        *,
        min_size: int,
        max_size: int,
        retry_seconds: float,
        configure: Callable[[psycopg.Connection[Any]], None],
    ) -> None:
        # Checked at checkout: a replica that went away is noticed before a search uses it.
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            configure=configure,
            check=ConnectionPool.check_connection,
            open=True,
            timeout=CHECKOUT_SECONDS,
        )
        self._retry_seconds = retry_seconds
        self._down_until = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.pool.close()

    @property
    def in_use(self) -> bool:
        return time.monotonic() >= self._down_until

    @contextmanager
    def connection(self, primary: ConnectionPool) -> Iterator[psycopg.Connection[Any]]:
        """A replica connection, or a primary one while the replica is out of use."""
        with ExitStack() as stack:
            conn: psycopg.Connection[Any] | None = None
            if self.in_use:
                try:
                    conn = stack.enter_context(self.pool.connection())
                except psycopg.OperationalError as exc:  # PoolTimeout: down or saturated
                    self._out_of_use(exc)
            if conn is None:
                replica_fallbacks().inc()
                yield stack.enter_context(primary.connection())
                return
            try:
                yield conn
            except psycopg.OperationalError as exc:
                if conn.broken or conn.closed:  # the server went away, not one statement's error
                    self._out_of_use(exc)
                raise

    def _out_of_use(self, exc: Exception) -> None:
        with self._lock:
            was_in_use = self.in_use
            self._down_until = time.monotonic() + self._retry_seconds
        if was_in_use:
            _log.warning(
                "read replica unavailable (%s: %s): searches use the primary for %.0f s",
                type(exc).__name__,
                exc,
                self._retry_seconds,
            )

    def status(self) -> ReplicaStatus:
        """The replica's state as the health checks show it (one short query)."""
        try:
            with self.pool.connection(timeout=_HEALTH_SECONDS) as conn:
                row = conn.cursor(row_factory=dict_row).execute(_STATUS_SQL).fetchone()
        except psycopg.Error as exc:
            return ReplicaStatus("down", self.in_use, error=type(exc).__name__)
        assert row is not None
        status = "ok" if row["standby"] else "not_a_standby"
        return ReplicaStatus(
            status, self.in_use, round(float(row["lag"]), 3), replay_paused=row["pause"] != "not paused"
        )
