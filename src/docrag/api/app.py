"""The app factory: builds the runtime in the lifespan and maps every error to typed JSON."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from docrag.api.admission import Admission
from docrag.api.auth import credentials
from docrag.api.documented import EVERY_ROUTE, GUARDED
from docrag.api.guard import RATE_LIMITS_STATE, AuthenticatorFactory, Guard
from docrag.api.lockout import LoginLockout
from docrag.api.ratelimit import RateLimits
from docrag.api.routes import (
    answers,
    assets,
    audit,
    auth,
    collections,
    conversations,
    documents,
    health,
    health_components,
    keys,
    pages,
    query,
    subject,
    users,
)
from docrag.api.routes.auth import LOCKOUT_STATE
from docrag.api.security import SecurityHeaders, install_cors, security_headers
from docrag.errors import DocRAGError
from docrag.observability.install import install_observability
from docrag.observability.tracing import start_tracing
from docrag.services import Runtime
from docrag.settings import Settings

_log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "invalid_request",  # a body FastAPI can't parse at all (not UTF-8, a broken multipart form)
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
    415: "unsupported_media_type",
}


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _start_sweeper(runtime: Runtime, seconds: float) -> asyncio.Task[None] | None:
    """Every ``seconds``, drop what this process holds of collections gone through another
    process (Runtime.forget_gone): erased text must leave every process's memory too."""
    if seconds <= 0:
        return None

    async def sweep() -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await run_in_threadpool(runtime.forget_gone)
            except DocRAGError as exc:  # the database away: the next round tries again
                _log.warning("memory sweep failed: %s", exc)

    return asyncio.get_running_loop().create_task(sweep())


def _start_warming(runtime: Runtime, max_chunks: int) -> threading.Event:
    """Build the largest collections' BM25 indexes in the background; the event is set when done
    (at once with nothing to do), and /health/ready waits for it."""
    warmed = threading.Event()
    if max_chunks <= 0:
        warmed.set()
        return warmed

    def warm() -> None:
        try:
            start = time.monotonic()
            chunks = runtime.warm_indexes(max_chunks)
            if chunks:
                _log.info("BM25 indexes of %d chunks built in %.1f s", chunks, time.monotonic() - start)
        except DocRAGError as exc:  # the database away: indexes are built at first search instead
            _log.warning("warming the search indexes failed: %s", exc)
        finally:
            warmed.set()

    threading.Thread(target=warm, name="docrag-warm-indexes", daemon=True).start()
    return warmed


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    authenticator: AuthenticatorFactory = credentials,
) -> FastAPI:
    """The DocRAG app. With ``runtime`` given, the caller owns it; otherwise the lifespan opens one.
    ``authenticator`` builds, from the runtime, what turns a request's headers into its caller."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        traces = start_tracing(settings)  # None unless DOCRAG_OTLP_ENDPOINT is set
        app.state.runtime = runtime or await run_in_threadpool(Runtime.open, settings)
        if app.state.runtime.bootstrap_key:
            print(
                "\nDocRAG created an admin API key for the default tenant. It is shown only once:\n"
                f"    {app.state.runtime.bootstrap_key}\n",
                flush=True,
            )
        # Uploads are ingested by workers; by default `docrag serve` runs one in-process.
        # Built here, on the serving event loop (its Redis connections and memory windows live on it),
        # from the app's settings (a caller's runtime may have been opened with others).
        rate_limits = RateLimits(settings) if settings.rate_limiting else None
        setattr(app.state, RATE_LIMITS_STATE, rate_limits)
        sweeper = _start_sweeper(app.state.runtime, settings.memory_sweep_seconds)
        lockout = LoginLockout(settings)  # failed logins lock accounts even with rate limits off
        setattr(app.state, LOCKOUT_STATE, lockout)
        app.state.warmed = _start_warming(app.state.runtime, settings.warm_index_chunks if owned else 0)
        worker = None
        if app.state.runtime.settings.inprocess_worker:
            worker = app.state.runtime.worker()
            worker.start()
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            if worker is not None:
                # Jobs not finished now are queued again for the next worker (or this server's next start).
                worker.stop(hand_back=True)
                await run_in_threadpool(worker.join, 30.0)
            if rate_limits is not None:
                await rate_limits.close()
            await lockout.close()
            setattr(app.state, RATE_LIMITS_STATE, None)
            if owned:
                await run_in_threadpool(app.state.runtime.close)
            app.state.runtime = None
            if traces is not None:
                await run_in_threadpool(traces.close)  # sends the spans still batched

    app = FastAPI(
        title="DocRAG",
        version="0.1.0",
        summary="Answers from your documents, every sentence cited.",
        lifespan=lifespan,
        responses=EVERY_ROUTE,
        docs_url=None,  # served by routes/assets.py, from this server (no CDN)
        redoc_url=None,
    )

    @app.exception_handler(DocRAGError)
    async def docrag_error(_: Request, exc: DocRAGError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.response_headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}")
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The exception's headers too: a 405 must say which methods the route has (Allow).
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unexpected error")
        response = _error(500, "internal_error", "internal error; it has been logged")
        # This handler runs outside the middleware stack, so the request id and the security
        # headers are added here.
        response.headers["X-Request-ID"] = getattr(request.state, "request_id", "")
        https = request.url.scheme == "https"
        response.headers.update(
            security_headers(request.url.path, https=https, hsts_seconds=settings.hsts_seconds)
        )
        return response

    # Authentication, authorization and body caps, before any route reads a body.
    app.add_middleware(Guard, authenticator=authenticator)
    # Outside the guard: a CORS preflight carries no credential and is answered here.
    install_cors(app, settings)

    for module in (health, health_components):
        app.include_router(module.router)
    for module in (collections, documents, pages, query, conversations, answers, subject, keys, audit, users):
        app.include_router(module.router, responses=GUARDED)
    app.include_router(auth.router)  # login and refresh are public: each route lists its errors
    app.include_router(assets.router(app.openapi_url or "/openapi.json", app.title))
    # Outside the guard: an overloaded process refuses before it spends a database query on the key.
    app.add_middleware(
        Admission,
        inflight=settings.max_inflight_requests,
        queue=settings.admission_queue,
        wait_seconds=settings.admission_wait_seconds,
    )
    install_observability(app, settings)
    # Outermost: every answer that passes through the middleware gets the headers.
    app.add_middleware(SecurityHeaders, hsts_seconds=settings.hsts_seconds)
    return app
