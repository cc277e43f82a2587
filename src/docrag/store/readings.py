"""What the health checks and the scrape-time gauges read of the deployment (docs/observability.md):
the database's answer, pgvector, the queue's backlog, workers' heartbeats, backups, the read replica
and this process's pool. These are the deployment's rows, not one tenant's: every read is
ALL_TENANTS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docrag.store.heartbeats import Fleet, WorkerHeartbeats
from docrag.store.postgres import Store
from docrag.store.replica import ReplicaStatus

# Claimable queued jobs only: a job waiting out a retry backoff (run_after in the future) is not stuck.
# Both aggregates use the partial index jobs_queued_idx.
_QUEUE_SQL = (
    "SELECT count(*) AS depth,"
    " coalesce(extract(epoch FROM now() - min(run_after)), 0)::float8 AS oldest"
    " FROM jobs WHERE state = 'queued' AND run_after <= now()"
)
# backup_runs belongs to the backup feature; it may not exist (yet) in this database.
_BACKUP_TABLE_SQL = "SELECT to_regclass('backup_runs') IS NOT NULL AS present"
_BACKUP_SQL = (
    "SELECT coalesce(extract(epoch FROM max(finished_at)), 0)::float8 AS last FROM backup_runs WHERE ok"
)
_BACKUP_AGE_SQL = (
    "SELECT extract(epoch FROM now() - max(finished_at))::float8 AS age FROM backup_runs WHERE ok"
)


@dataclass(frozen=True, slots=True)
class Backlog:
    depth: int  # queued jobs claimable now
    oldest_seconds: float  # how long the oldest of them has waited (0 when none)


class ReadingsStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def ping(self) -> None:
        """:raises Unavailable: the database does not answer."""
        self._store.ping()

    @property
    def replicated(self) -> bool:
        """Whether searches may read from a replica (DOCRAG_DATABASE_READ_URL)."""
        return self._store.replica is not None

    def replica_status(self) -> ReplicaStatus:
        assert self._store.replica is not None
        return self._store.replica.status()

    def pool_stats(self) -> dict[str, int]:
        """This process's pool (psycopg_pool's ``get_stats``)."""
        return dict(self._store.pool.get_stats())

    def has_pgvector(self) -> bool:
        return bool(self._one("SELECT count(*) AS n FROM pg_extension WHERE extname = 'vector'")["n"])

    def backlog(self) -> Backlog:
        row = self._one(_QUEUE_SQL)
        return Backlog(int(row["depth"]), float(row["oldest"]))

    def fleet(self, fresh_seconds: float) -> Fleet:
        return WorkerHeartbeats(self._store).fleet(fresh_seconds)

    def last_backup_age(self) -> float | None:
        """Seconds since the last successful backup; None when none succeeded."""
        age = self._one(_BACKUP_AGE_SQL)["age"]
        return None if age is None else float(age)

    def last_backup_time(self) -> float | None:
        """Unix time of the last successful backup (0 when none); None without the backups table."""
        with self._store.connection(self._store.ALL_TENANTS) as conn:
            present = conn.execute(_BACKUP_TABLE_SQL).fetchone()
            last = conn.execute(_BACKUP_SQL).fetchone() if present and present["present"] else None
        return None if last is None else float(last["last"])

    def _one(self, sql: str) -> dict[str, Any]:
        with self._store.connection(self._store.ALL_TENANTS) as conn:
            row: dict[str, Any] | None = conn.execute(sql).fetchone()
        assert row is not None
        return row
