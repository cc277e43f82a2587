"""One call for the app factory: the middleware and the /metrics route."""

from __future__ import annotations

from fastapi import FastAPI

from docrag.observability.endpoint import metrics_router
from docrag.observability.middleware import ObservabilityMiddleware
from docrag.settings import Settings


def install_observability(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(metrics_router(settings.resolved_data_dir()))
