"""One call for the app factory: the middleware and the /metrics route."""

from __future__ import annotations

from fastapi import FastAPI

from docrag.observability.endpoint import metrics_router
from docrag.observability.health_cache import HealthCache
from docrag.observability.middleware import ObservabilityMiddleware
from docrag.settings import Settings


def install_observability(app: FastAPI, settings: Settings) -> None:
    """With DOCRAG_METRICS=false there is no /metrics route and the middleware counts nothing."""
    app.state.health_cache = HealthCache()
    app.add_middleware(ObservabilityMiddleware, metrics=settings.metrics, access_log=settings.access_log)
    if settings.metrics:
        app.include_router(
            metrics_router(
                settings.resolved_data_dir(), app.state.health_cache, settings.metrics_health_max_age_seconds
            )
        )
