from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from docrag.errors import DocRAGError
from docrag.providers.protocol import warm_up

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/ready",
    responses={503: {"description": "Not ready: the same body, naming the check that failed"}},
)
def ready(request: Request) -> JSONResponse:
    """The database answers, the embedding model runs, and the search indexes a fresh process
    builds at start are built; with a read replica, its state and lag too (not a condition of
    readiness: searches use the primary while it is down)."""
    runtime = getattr(request.app.state, "runtime", None)
    checks: dict[str, str] = {"database": "unknown", "model": "unknown"}
    extra: dict[str, Any] = {}
    if runtime is not None:
        try:
            runtime.store.ping()
            checks["database"] = "ok"
        except DocRAGError as exc:
            checks["database"] = exc.message
        try:
            warm_up(runtime.embedder)
            checks["model"] = "ok"
        except DocRAGError as exc:
            checks["model"] = exc.message
        if runtime.store.replica is not None:
            extra["read_replica"] = runtime.store.replica.status().detail()
        warmed = getattr(request.app.state, "warmed", None)
        if warmed is not None and not warmed.is_set():
            checks["search_indexes"] = "warming: the largest collections' BM25 indexes are being built"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks, **extra}, status_code=200 if ok else 503
    )
