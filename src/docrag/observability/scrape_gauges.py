"""Gauges computed at scrape time from shared state (the database, the data disk), so every API
process reports the same values and nothing has to be kept up to date in between."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from docrag.errors import DocRAGError
from docrag.store.heartbeats import WorkerHeartbeats
from docrag.store.postgres import Store

_log = logging.getLogger(__name__)

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


def disk_free_ratio(path: Path) -> float:
    """Free share of the filesystem holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return usage.free / usage.total if usage.total else 0.0


def pool_families(store: Store) -> list[Metric]:
    """This process's connection pool (each API process has its own)."""
    stats = store.pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    used = GaugeMetricFamily(
        "docrag_db_pool_connections", "Connections of this process's pool, by state", labels=["state"]
    )
    used.add_metric(["in_use"], size - idle)
    used.add_metric(["idle"], idle)
    return [
        used,
        GaugeMetricFamily(
            "docrag_db_pool_max_connections", "This process's pool size limit", value=stats.get("pool_max", 0)
        ),
        GaugeMetricFamily(
            "docrag_db_pool_waiting_requests",
            "Requests of this process waiting for a pooled connection",
            value=stats.get("requests_waiting", 0),
        ),
    ]


class ScrapeGauges(Collector):
    def __init__(self, store: Store | None, data_dir: Path, *, worker_fresh_seconds: float = 60.0) -> None:
        self.store = store
        self.data_dir = data_dir
        #: A worker whose heartbeat is older than this is not counted as live (the job lease).
        self.worker_fresh_seconds = worker_fresh_seconds

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "docrag_disk_free_ratio",
            "Free share (0-1) of the filesystem holding the data directory",
            value=disk_free_ratio(self.data_dir),
        )
        database_up = 0.0
        if self.store is not None:
            yield from pool_families(self.store)
            try:
                yield from self._from_database()
                database_up = 1.0
            except (DocRAGError, psycopg.Error) as exc:
                # The scrape still answers (HTTP metrics, disk); the database alert comes from this gauge.
                _log.warning("metrics: database gauges unavailable: %s", exc)
        yield GaugeMetricFamily(
            "docrag_metrics_database_up",
            "1 when this scrape could read the database gauges, 0 otherwise",
            value=database_up,
        )

    def _from_database(self) -> Iterator[Metric]:
        assert self.store is not None
        with self.store.connection(self.store.ALL_TENANTS) as conn:
            queue = conn.execute(_QUEUE_SQL).fetchone()
            backups = conn.execute(_BACKUP_TABLE_SQL).fetchone()
            last_backup = conn.execute(_BACKUP_SQL).fetchone() if backups and backups["present"] else None
        assert queue is not None
        fleet = WorkerHeartbeats(self.store).fleet(self.worker_fresh_seconds)
        families = [
            GaugeMetricFamily(
                "docrag_workers_live",
                "Worker processes whose heartbeat is fresh (within the job lease)",
                value=fleet.live,
            ),
            GaugeMetricFamily(
                "docrag_queue_depth", "Ingestion jobs queued and claimable now", value=queue["depth"]
            ),
            GaugeMetricFamily(
                "docrag_queue_oldest_job_age_seconds",
                "How long the oldest claimable queued job has waited (0 when none)",
                value=queue["oldest"],
            ),
        ]
        families.append(
            GaugeMetricFamily(
                "docrag_worker_last_heartbeat_timestamp_seconds",
                "Unix time of the newest heartbeat of any registered worker process (0 when none)",
                value=fleet.last_seen,
            )
        )
        if last_backup is not None:
            families.append(
                GaugeMetricFamily(
                    "docrag_backup_last_success_timestamp_seconds",
                    "Unix time of the last successful backup (0 when none succeeded)",
                    value=last_backup["last"],
                )
            )
        yield from families
