"""The page, its script and styles, and the API documentation, all served from this server.

``/assets/{name}`` serves the page's ES modules and ``app.css`` (every ``.js`` and ``.css`` file of
``docrag/web``, docs/web.md) and the Swagger UI
and ReDoc bundles (shipped by the ``fastapi-offline`` package), so neither the page nor ``/docs``
and ``/redoc`` load anything from another origin: they work offline, and their Content-Security-Policy
names ``'self'`` only. The page has no inline script or style at all. The documentation pages keep
Swagger UI's one inline start-up script, allowed by its hash, and allow inline styles (both bundles
inject them at run time); ReDoc also runs a worker from a ``blob:`` URL, and its bundle carries Ajv,
which compiles validators with ``new Function``, so ``/redoc`` alone allows ``'unsafe-eval'`` (it shows
this server's own OpenAPI document, no user content).
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import resources

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

from docrag.errors import NotFound

_WEB = "docrag.web"
_DOCS = "fastapi_offline"  # its static/ folder: the Swagger UI and ReDoc dist files
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def _page_assets() -> dict[str, tuple[str, str, str]]:
    """The page's own files: each module and style sheet shipped in ``docrag/web``."""
    found = {}
    for entry in resources.files(_WEB).iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if suffix in _TYPES:
            found[entry.name] = (_WEB, entry.name, _TYPES[suffix])
    return found


ASSETS: dict[str, tuple[str, str, str]] = {
    **_page_assets(),
    "swagger-ui-bundle.js": (_DOCS, "static/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_DOCS, "static/swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": (_DOCS, "static/redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": (_DOCS, "static/favicon.png", "image/png"),
}
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def docs_csp(html: str, *, eval_: bool = False) -> str:
    """The policy of a documentation page: its own inline scripts by hash, assets from 'self'."""
    sources = ["'self'"] + [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    ]
    if eval_:
        sources.append("'unsafe-eval'")
    return (
        f"default-src 'none'; script-src {' '.join(sources)}"
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def _page(response: HTMLResponse, *, eval_: bool = False) -> HTMLResponse:
    html = bytes(response.body).decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_csp(html, eval_=eval_)})


def router(openapi_url: str, title: str) -> APIRouter:
    """``/``, ``/assets/{name}``, ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc``."""
    r = APIRouter(include_in_schema=False)
    cache: dict[str, bytes] = {}
    swagger = _page(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url="/assets/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui.css",
            swagger_favicon_url="/assets/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )
    )
    redoc = _page(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url="/assets/redoc.standalone.js",
            redoc_favicon_url="/assets/favicon.png",
            with_google_fonts=False,
        ),
        eval_=True,  # the ReDoc bundle compiles JSON-schema validators (Ajv) with `new Function`
    )
    oauth2 = _page(get_swagger_ui_oauth2_redirect_html())

    @r.get("/")
    def index() -> HTMLResponse:
        if "/" not in cache:
            cache["/"] = (resources.files(_WEB) / "index.html").read_bytes()
        return HTMLResponse(cache["/"])

    @r.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no asset {name!r}")
        package, path, media_type = ASSETS[name]
        if name not in cache:
            cache[name] = (resources.files(package) / path).read_bytes()
        return Response(cache[name], media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})

    @r.get("/docs")
    def docs() -> HTMLResponse:
        return swagger

    @r.get("/docs/oauth2-redirect")
    def docs_oauth2_redirect() -> HTMLResponse:
        return oauth2

    @r.get("/redoc")
    def redoc_page() -> HTMLResponse:
        return redoc

    return r
