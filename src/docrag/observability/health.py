"""Component health: each part DocRAG depends on, checked now, and a weighted score.

Statuses are ``ok``, ``degraded`` (works, but needs attention) or ``down``. The score is
``sum(weight * value) / sum(weight)`` over the components, scaled to 0-100, with ok = 1,
degraded = 0.5, down = 0 (weights in :data:`WEIGHTS`, documented in docs/observability.md).
The overall status is ``down`` when a critical component (database, vector index, embedding
model) is down, ``degraded`` when any component is not ok, else ``ok``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from docrag.errors import DocRAGError
from docrag.observability.scrape_gauges import disk_free_ratio
from docrag.providers.protocol import Embedder, warm_up
from docrag.settings import Settings
from docrag.store.protocol import DeploymentReadings

Status = Literal["ok", "degraded", "down"]
VALUES: dict[str, float] = {"ok": 1.0, "degraded": 0.5, "down": 0.0}
WEIGHTS: dict[str, int] = {
    "database": 25,
    "vector_index": 15,
    "embedding_model": 20,
    "workers": 10,
    "queue": 10,
    "disk": 10,
    "redis": 5,
    "backups": 5,
    "read_replica": 5,
}
CRITICAL = frozenset({"database", "vector_index", "embedding_model"})
#: Thresholds, as the alerts use them (deploy/monitoring/prometheus-rules.yml).
QUEUE_DEGRADED_SECONDS = 300.0
QUEUE_DOWN_SECONDS = 900.0
DISK_DEGRADED_RATIO = 0.15
DISK_DOWN_RATIO = 0.05
BACKUP_MAX_AGE_SECONDS = 26 * 3600.0
MODEL_SLOW_MS = 1000.0
REPLICA_LAG_DEGRADED_SECONDS = 30.0
#: What a component that reads the database reports while the database is down.
_NEEDS_DATABASE: dict[str, Status] = {
    "vector_index": "down",
    "workers": "down",
    "queue": "down",
    "backups": "degraded",
}


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    status: Status
    latency_ms: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    status: Status
    score: float
    components: tuple[Component, ...]


def score_of(components: tuple[Component, ...]) -> float:
    total = sum(WEIGHTS[c.name] for c in components)
    got = sum(WEIGHTS[c.name] * VALUES[c.status] for c in components)
    return round(100.0 * got / total, 1) if total else 0.0


def overall(components: tuple[Component, ...]) -> Status:
    if any(c.status == "down" and c.name in CRITICAL for c in components):
        return "down"
    return "ok" if all(c.status == "ok" for c in components) else "degraded"


def _timed(name: str, check: Callable[[], tuple[Status, dict[str, Any]]]) -> Component:
    started = time.perf_counter()
    try:
        status, detail = check()
    except (DocRAGError, psycopg.Error) as exc:
        status, detail = "down", {"error": type(exc).__name__}
    return Component(name, status, round((time.perf_counter() - started) * 1000, 2), detail)


class HealthCheck:
    def __init__(self, readings: DeploymentReadings, embedder: Embedder, settings: Settings) -> None:
        self._readings = readings
        self._embedder = embedder
        self._settings = settings

    def run(self) -> Health:
        checks: dict[str, Callable[[], tuple[Status, dict[str, Any]]]] = {
            "database": self._database,
            "vector_index": self._vector_index,
            "embedding_model": self._model,
            "redis": self._redis,
            "workers": self._workers,
            "queue": self._queue,
            "disk": self._disk,
            "backups": self._backups,
        }
        if self._readings.replicated:  # only with DOCRAG_DATABASE_READ_URL
            checks["read_replica"] = self._read_replica
        database = _timed("database", checks.pop("database"))
        found = [database]
        for name, check in checks.items():
            if database.status == "down" and name in _NEEDS_DATABASE:
                # Not asked again: each query would wait out the pool's timeout for nothing.
                found.append(Component(name, _NEEDS_DATABASE[name], 0.0, {"error": "database down"}))
            else:
                found.append(_timed(name, check))
        components = tuple(found)
        return Health(overall(components), score_of(components), components)

    def _database(self) -> tuple[Status, dict[str, Any]]:
        self._readings.ping()
        return "ok", {}

    def _vector_index(self) -> tuple[Status, dict[str, Any]]:
        present = self._readings.has_pgvector()
        return ("ok" if present else "down"), {"pgvector": present}

    def _model(self) -> tuple[Status, dict[str, Any]]:
        started = time.perf_counter()
        warm_up(self._embedder)
        slow = (time.perf_counter() - started) * 1000 > MODEL_SLOW_MS
        return ("degraded" if slow else "ok"), {"model": self._embedder.model_id}

    def _redis(self) -> tuple[Status, dict[str, Any]]:
        url = self._settings.redis_url
        if not url:
            return "ok", {"configured": False}
        import redis

        client: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            client.ping()
        except redis.RedisError as exc:
            # Only cache hits are lost without Redis: it is down, DocRAG is degraded.
            return "down", {"configured": True, "error": type(exc).__name__}
        finally:
            client.close()
        return "ok", {"configured": True}

    def _workers(self) -> tuple[Status, dict[str, Any]]:
        fleet = self._readings.fleet(self._settings.job_lease_seconds)
        return ("ok" if fleet.live else "down"), {"live": fleet.live}

    def _queue(self) -> tuple[Status, dict[str, Any]]:
        backlog = self._readings.backlog()
        oldest = backlog.oldest_seconds
        status: Status = (
            "down" if oldest > QUEUE_DOWN_SECONDS else "degraded" if oldest > QUEUE_DEGRADED_SECONDS else "ok"
        )
        return status, {"depth": backlog.depth, "oldest_job_age_seconds": round(oldest, 1)}

    def _disk(self) -> tuple[Status, dict[str, Any]]:
        free = disk_free_ratio(self._settings.resolved_data_dir())
        status: Status = (
            "down" if free < DISK_DOWN_RATIO else "degraded" if free < DISK_DEGRADED_RATIO else "ok"
        )
        return status, {"free_ratio": round(free, 4)}

    def _read_replica(self) -> tuple[Status, dict[str, Any]]:
        found = self._readings.replica_status()
        # Down: searches go to the primary (store/replica.py), DocRAG is degraded, not down.
        lagging = (found.lag_seconds or 0.0) > REPLICA_LAG_DEGRADED_SECONDS or found.replay_paused
        status: Status = "down" if found.status != "ok" else "degraded" if lagging else "ok"
        return status, found.detail()

    def _backups(self) -> tuple[Status, dict[str, Any]]:
        age = self._readings.last_backup_age()
        # A missing backup never takes the service down, but it needs attention.
        ok = age is not None and age <= BACKUP_MAX_AGE_SECONDS
        return ("ok" if ok else "degraded"), {"last_success_age_seconds": None if age is None else round(age)}
