"""Security headers on every answer, and CORS by allow-list (docs/security-headers.md).

:class:`SecurityHeaders` is the outermost middleware, so every answer passes it: routes, the guard's
401/403/413/429, 404 and 422. The catch-all 500 handler answers from outside all middleware, so it
adds :func:`security_headers` itself (``api/app.py``).

The page (``/``) may run only its own scripts and styles (ES modules and ``app.css`` under
``/assets``): no inline script or style, no other origin; its images are its own or ``blob:`` URLs
(a cited PDF page, fetched with the caller's credential, docs/web.md). Every other answer is
data, never to be rendered as a document: ``default-src 'none'``. ``/docs`` and ``/redoc`` set
their own, looser policy (``api/routes/assets.py``). HSTS goes on answers over HTTPS (uvicorn with
a certificate, or a trusted proxy's ``X-Forwarded-Proto: https``), never on plain HTTP, where
browsers ignore it anyway.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docrag.settings import Settings

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DATA_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
_CSP = b"content-security-policy"

#: Headers a browser may send cross-origin, and the ones it lets scripts read from answers.
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Accept", "X-Request-ID", "Last-Event-ID"]
CORS_EXPOSED_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
]


def security_headers(path: str, *, https: bool, hsts_seconds: int) -> dict[str, str]:
    """The headers an answer to ``path`` carries (its CSP unless the route set one)."""
    headers = {
        "Content-Security-Policy": PAGE_CSP if path == "/" else DATA_CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if https and hsts_seconds > 0:
        headers["Strict-Transport-Security"] = f"max-age={hsts_seconds}; includeSubDomains"
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        self.hsts_seconds = hsts_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = security_headers(
            scope["path"], https=scope.get("scheme") == "https", hsts_seconds=self.hsts_seconds
        )
        ours = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in wanted.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", ())}
                added = [(k, v) for k, v in ours if k not in present]
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_cors(app: FastAPI, settings: Settings) -> None:
    """CORS for the allow-listed origins only (none: off). Call after the guard is added, so this
    middleware runs before it and answers preflights (which carry no credential) itself."""
    if not settings.cors_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,  # credentials are Bearer headers, never cookies
        max_age=600,
    )
