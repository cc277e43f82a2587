"""``GET /health/components``: readable without a key (status and score only, for load
balancers and uptime checks); with an admin key it adds each component's status, latency and
details, which describe the deployment and so are not for every caller. A key that is not valid
is refused (401) rather than silently treated as none."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from docrag.api.auth import ApiKeyAuthenticator, require_principal
from docrag.api.deps import RuntimeDep
from docrag.api.documented import errors
from docrag.observability.health import HealthCheck
from docrag.observability.health_cache import COMPONENTS_MAX_AGE_SECONDS, HealthCache

router = APIRouter(prefix="/health", tags=["health"])
_STATUS_CODES = {"ok": 200, "degraded": 200, "down": 503}


# Sync on purpose: the checks block (database, model, Redis), so they run in the thread pool.
@router.get(
    "/components",
    responses={**errors(401), 503: {"description": "Down: the same body, with status down"}},
)
def components(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Overall status and 0-100 score; with an admin key, every component's too."""
    details = False
    if "authorization" in request.headers:
        principal = require_principal(ApiKeyAuthenticator(runtime.store), request.headers)
        details = principal.role == "admin"
    cache: HealthCache = request.app.state.health_cache
    health = cache.get(
        HealthCheck(runtime.readings, runtime.embedder, runtime.settings).run, COMPONENTS_MAX_AGE_SECONDS
    )
    body: dict[str, Any] = {"status": health.status, "score": health.score}
    if details:
        body["components"] = {
            c.name: {"status": c.status, "latency_ms": c.latency_ms, **c.detail} for c in health.components
        }
    return JSONResponse(body, status_code=_STATUS_CODES[health.status])
