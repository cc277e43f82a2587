"""``GET /metrics``: the Prometheus text exposition of this process (or, with
PROMETHEUS_MULTIPROC_DIR set, of all processes writing there) plus the scrape-time gauges."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from docrag.observability.health import HealthCheck
from docrag.observability.health_cache import HealthCache
from docrag.observability.scrape_gauges import ScrapeGauges


def exposition(gauges: ScrapeGauges) -> bytes:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(gauges)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several uvicorn workers / worker processes: sum their files, not this process's memory.
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        return generate_latest(scrape)
    return generate_latest(REGISTRY) + generate_latest(scrape)


def metrics_router(data_dir: Path, health: HealthCache, health_max_age: float) -> APIRouter:
    """The /metrics route; ``data_dir`` is the directory whose disk is reported, ``health``
    the app's cache of component checks (a scrape reuses one up to ``health_max_age`` s old)."""
    router = APIRouter(tags=["observability"])

    # Sync on purpose: the scrape queries the database, so it runs in the thread pool.
    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        runtime = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            # Sets the score the HealthScoreLow alert reads, as of a check a few seconds old at most.
            check = HealthCheck(runtime.readings, runtime.embedder, runtime.settings)
            health.get(check.run, health_max_age)
        gauges = ScrapeGauges(
            runtime.readings if runtime is not None else None,
            data_dir,
            worker_fresh_seconds=runtime.settings.job_lease_seconds if runtime is not None else 60.0,
        )
        return Response(exposition(gauges), media_type=CONTENT_TYPE_LATEST)

    return router
