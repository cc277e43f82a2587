"""The role matrix: which role each route needs, and what body it may carry.

One table, read by the guard middleware before any body is read (``api/guard.py``) and published
as ``docs/roles.md`` (``markdown()``); tests/e2e/test_roles.py checks that every route of the app is in
it and that each route refuses the role below the one it needs. Roles are ranked: ``admin`` may
do all an ``editor`` may, an ``editor`` all a ``reader`` may. ``None`` means the route is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.routing import compile_path

Role = Literal["reader", "editor", "admin"]
Body = Literal["json", "upload"]
#: The route class whose rate limits a request counts against (DOCRAG_RATE_LIMITS; api/ratelimit.py).
RateClass = Literal["login", "ask", "search", "upload", "other"]
RANK: dict[str, int] = {"reader": 1, "editor": 2, "admin": 3}


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    role: Role | None
    #: upload: a multipart document, capped at DOCRAG_MAX_UPLOAD_BYTES; json: DOCRAG_MAX_JSON_BYTES.
    body: Body = "json"
    limit: RateClass = "other"
    #: Acts on the whole tenant (its keys, its audit log, a new collection): refused (403) to a
    #: key scoped to collections, which may only act inside them (docs/keys.md).
    tenant_wide: bool = False
    #: A signed-in user's own route (sessions, MFA, password): it needs an access token, not an API
    #: key, and stays open to an admin who must enroll in MFA first (docs/auth.md).
    user: bool = False


PUBLIC = RoutePolicy(None)
LOGIN = RoutePolicy(None, limit="login")
USER = RoutePolicy("reader", user=True)
READER = RoutePolicy("reader")
EDITOR = RoutePolicy("editor")
ADMIN = RoutePolicy("admin")
EDITOR_UPLOAD = RoutePolicy("editor", "upload", "upload")
READER_SEARCH = RoutePolicy("reader", limit="search")
READER_ASK = RoutePolicy("reader", limit="ask")
EDITOR_TENANT = RoutePolicy("editor", tenant_wide=True)
ADMIN_TENANT = RoutePolicy("admin", tenant_wide=True)

#: (method, path template) -> policy. Every route of the app is here (tests/e2e/test_roles.py).
ROUTES: dict[tuple[str, str], RoutePolicy] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/assets/{name}"): PUBLIC,  # the page's and the API documentation's scripts and styles
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/health/components"): PUBLIC,  # details only with an admin key (the route checks it)
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/v1/collections"): READER,
    ("GET", "/v1/collections/{name}"): READER,
    ("POST", "/v1/collections"): EDITOR_TENANT,
    ("DELETE", "/v1/collections/{name}"): ADMIN,
    ("GET", "/v1/collections/{name}/retention"): READER,
    ("PUT", "/v1/collections/{name}/retention"): ADMIN,
    ("GET", "/v1/collections/{name}/pii"): READER,
    ("PUT", "/v1/collections/{name}/pii"): ADMIN,
    ("GET", "/v1/collections/{name}/documents"): READER,
    ("POST", "/v1/collections/{name}/documents"): EDITOR_UPLOAD,
    ("GET", "/v1/documents/{document_id}"): READER,
    ("PUT", "/v1/documents/{document_id}"): EDITOR_UPLOAD,
    ("DELETE", "/v1/documents/{document_id}"): EDITOR,
    ("GET", "/v1/documents/{document_id}/pages/{page}"): READER,  # a cited PDF page (docs/web.md)
    ("GET", "/v1/documents/{document_id}/pages/{page}/boxes"): READER,
    ("POST", "/v1/search"): READER_SEARCH,
    ("POST", "/v1/ask"): READER_ASK,
    ("POST", "/v1/conversations"): READER,
    ("GET", "/v1/conversations"): READER,  # the caller's own
    ("GET", "/v1/conversations/{conversation_id}"): READER,
    ("GET", "/v1/answers/{answer_id}"): READER,
    ("POST", "/v1/answers/{answer_id}/feedback"): READER,
    ("GET", "/v1/feedback/summary"): ADMIN_TENANT,
    ("POST", "/v1/keys"): ADMIN_TENANT,
    ("GET", "/v1/keys"): ADMIN_TENANT,
    ("DELETE", "/v1/keys/{key_id}"): ADMIN_TENANT,
    ("GET", "/v1/audit"): ADMIN_TENANT,
    ("GET", "/v1/export"): ADMIN_TENANT,  # subject rights (docs/subject-rights.md)
    ("DELETE", "/v1/tenants/{tenant_id}"): ADMIN_TENANT,
    ("POST", "/v1/auth/login"): LOGIN,
    ("POST", "/v1/auth/refresh"): LOGIN,
    ("POST", "/v1/auth/logout"): USER,
    ("GET", "/v1/auth/sessions"): USER,
    ("DELETE", "/v1/auth/sessions/{session_id}"): USER,
    ("POST", "/v1/auth/mfa/enroll"): USER,
    ("POST", "/v1/auth/mfa/verify"): USER,
    ("GET", "/v1/users"): ADMIN_TENANT,
    ("POST", "/v1/users"): ADMIN_TENANT,
    ("GET", "/v1/users/me"): USER,
    ("POST", "/v1/users/me/password"): USER,
    ("PATCH", "/v1/users/{user_id}"): ADMIN_TENANT,
    ("DELETE", "/v1/users/{user_id}"): ADMIN_TENANT,
    ("GET", "/v1/tenant/settings"): ADMIN_TENANT,
    ("PUT", "/v1/tenant/settings"): ADMIN_TENANT,
}


def allows(role: str, needed: Role | None) -> bool:
    return needed is None or RANK.get(role, 0) >= RANK[needed]


_COMPILED = [(method, compile_path(path)[0], policy) for (method, path), policy in ROUTES.items()]


def policy_for(method: str, path: str) -> RoutePolicy:
    """The policy of the route serving ``method path``, matched against the table's templates
    (not the app's router, so no body-reading code runs first). A path no route serves (404, or
    405 for another method) needs a reader under ``/v1`` (probing it needs a key) and is public
    elsewhere."""
    method = "GET" if method == "HEAD" else method
    for route_method, pattern, policy in _COMPILED:
        if route_method == method and pattern.match(path):
            return policy
    return READER if path.startswith("/v1") else PUBLIC


def markdown() -> str:
    """The table as the Markdown page docs/roles.md."""
    lines = [
        "# Roles",
        "",
        "Each API key and each user (docs/auth.md) has one role in one tenant. Roles are ranked: an",
        "`admin` may do all an `editor` may, an `editor` all a `reader` may. The guard checks the role",
        "from the request headers before any body is read: no credential gives 401 `unauthenticated`,",
        "a role below the route's gives 403 `forbidden`. A route marked *user* is a signed-in user's",
        "own (an access token, not an API key: 403 otherwise), and the only kind open to an admin who",
        "must enroll in MFA first (403 `mfa_enrollment_required` elsewhere). Each guarded request then",
        "counts against its key's (or user's) and its tenant's rate limits of the route's class",
        "(docs/rate-limits.md); `login` routes count against the client address and the account. A key",
        "scoped to collections (docs/keys.md) may not call the tenant-wide routes (403 `forbidden`).",
        "Generated from `src/docrag/api/roles.py`.",
        "",
        "| method | route | role needed | body | rate class | tenant-wide |",
        "|---|---|---|---|---|---|",
    ]
    for (method, path), policy in ROUTES.items():
        upload = policy.body == "upload"
        body = "upload (DOCRAG_MAX_UPLOAD_BYTES)" if upload else "JSON (DOCRAG_MAX_JSON_BYTES)"
        limit = policy.limit if policy.role is not None or policy.limit == "login" else "-"
        needed = (policy.role or "public") + (" (user)" if policy.user else "")
        wide = "yes" if policy.tenant_wide else ""
        lines.append(f"| {method} | `{path}` | {needed} | {body} | {limit} | {wide} |")
    return "\n".join(lines) + "\n"
