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
from docrag.store.protocol import DeploymentReadings

_log = logging.getLogger(__name__)


def disk_free_ratio(path: Path) -> float:
    """Free share of the filesystem holding ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return usage.free / usage.total if usage.total else 0.0


def pool_families(readings: DeploymentReadings) -> list[Metric]:
    """This process's connection pool (each API process has its own)."""
    stats = readings.pool_stats()
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
    def __init__(
        self, readings: DeploymentReadings | None, data_dir: Path, *, worker_fresh_seconds: float = 60.0
    ) -> None:
        self.readings = readings
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
        if self.readings is not None:
            yield from pool_families(self.readings)
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
        assert self.readings is not None
        queue = self.readings.backlog()
        last_backup = self.readings.last_backup_time()
        fleet = self.readings.fleet(self.worker_fresh_seconds)
        families = [
            GaugeMetricFamily(
                "docrag_workers_live",
                "Worker processes whose heartbeat is fresh (within the job lease)",
                value=fleet.live,
            ),
            GaugeMetricFamily(
                "docrag_queue_depth", "Ingestion jobs queued and claimable now", value=queue.depth
            ),
            GaugeMetricFamily(
                "docrag_queue_oldest_job_age_seconds",
                "How long the oldest claimable queued job has waited (0 when none)",
                value=queue.oldest_seconds,
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
                    value=last_backup,
                )
            )
        yield from families
