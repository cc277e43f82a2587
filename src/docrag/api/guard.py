"""Authentication, authorization and body limits, before any route reads a body.

A pure ASGI middleware, so nothing of the body has been read when it decides: an anonymous or
forbidden request is answered 401/403 from its headers alone (the server discards the body it
never asked for), and a declared ``Content-Length`` past the route's cap is answered 413 at once.
A body without one (chunked) is counted while it streams and refused as soon as it passes the
cap, so neither memory nor the multipart parser's temporary files ever hold more than the cap. A
body that stalls (nothing for ``body_idle_timeout_seconds``) or drags on past
``body_timeout_seconds`` is refused 408 ``body_timeout``: a slow client can't hold a worker.

Route handlers see the caller in ``request.state.principal`` (``api/deps.py``). Each guarded
request then counts against its key's and tenant's rate limits (``api/ratelimit.py``), and each one
refused 401 against its client address; a full window is answered 429 before the body is read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docrag.api.auth import ApiKeyAuthenticator, Authenticator, credentials, require_principal
from docrag.api.ratelimit import RateLimits
from docrag.api.roles import RoutePolicy, allows, policy_for
from docrag.domain import Principal
from docrag.errors import (
    BodyTimeout,
    BodyTooLarge,
    DocRAGError,
    FileTooLarge,
    Forbidden,
    InvalidRequest,
    MfaEnrollmentRequired,
    Unauthenticated,
    Unavailable,
)
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.tenancy import collection_scope

#: Room for a multipart body's boundaries, part headers and title field around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
PRINCIPAL_KEY = "principal"
#: ``app.state`` attribute holding the process's :class:`RateLimits` (None: rate limiting is off).
RATE_LIMITS_STATE = "rate_limits"

AuthenticatorFactory = Callable[[Runtime], Authenticator]


def api_keys(runtime: Runtime) -> Authenticator:
    """API keys alone (no access tokens)."""
    return ApiKeyAuthenticator(runtime.store)


class Guard:
    def __init__(self, app: ASGIApp, authenticator: AuthenticatorFactory = credentials) -> None:
        self.app = app
        self._factory = authenticator
        self._built: tuple[Runtime, Authenticator] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        policy = policy_for(scope["method"], scope["path"])
        rate_headers: dict[str, str] = {}
        collections: frozenset[UUID] | None = None
        try:
            runtime = _runtime(app)
            rate_limits: RateLimits | None = getattr(app.state, RATE_LIMITS_STATE, None)
            address = (scope.get("client") or ("unknown",))[0]
            if policy.role is not None:
                if runtime is None:
                    raise Unavailable("DocRAG is starting")
                if rate_limits is not None:
                    await rate_limits.refuse_blocked(address)
                principal = await self._principal(runtime, scope, rate_limits, address)
                if rate_limits is not None:
                    rate_headers = await rate_limits.admit(principal, policy.limit)
                if policy.user and principal.user_id is None:
                    raise Forbidden("this needs a signed-in user's access token, not an API key")
                if principal.enrollment_only and not policy.user:
                    raise MfaEnrollmentRequired(
                        "this tenant requires MFA for admins: enroll first"
                        " (POST /v1/auth/mfa/enroll, then POST /v1/auth/mfa/verify)"
                    )
                if not allows(principal.role, policy.role):
                    raise Forbidden(f"role {principal.role} may not do this (needs {policy.role})")
                if policy.tenant_wide and principal.collections is not None:
                    raise Forbidden(
                        "a key scoped to collections may not do this (it acts on the whole tenant)"
                    )
                scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
                collections = principal.collections
            elif policy.limit == "login" and rate_limits is not None:
                rate_headers = await rate_limits.admit_address(address, "login")
            limits = _Limits.of(runtime, policy)
            limits.check_declared(Headers(scope=scope))
        except DocRAGError as exc:
            await _respond(send, exc)
            return
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rate_headers.items()]
        # Every store query of this request sees only the key's collections (store/tenancy.py).
        token = collection_scope.set(collections)
        try:
            await _Body(self.app, limits, extra).run(scope, receive, send)
        finally:
            collection_scope.reset(token)

    async def _principal(
        self, runtime: Runtime, scope: Scope, rate_limits: RateLimits | None, address: str
    ) -> Principal:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            return await run_in_threadpool(require_principal, self._authenticator(runtime), headers)
        except Unauthenticated:
            if rate_limits is not None:
                await rate_limits.failed(address)
            raise

    def _authenticator(self, runtime: Runtime) -> Authenticator:
        if self._built is None or self._built[0] is not runtime:
            self._built = (runtime, self._factory(runtime))
        return self._built[1]


def _runtime(app: Any) -> Runtime | None:
    return getattr(app.state, "runtime", None)


class _Limits:
    def __init__(
        self, cap: int, error: type[DocRAGError], idle: float, total: float, *, stated: int | None = None
    ) -> None:
        self.cap, self.error, self.idle, self.total = cap, error, idle, total
        # The limit a person is told: an upload's is the file's, not the file's plus the room
        # its multipart wrapping is given.
        self.stated = cap if stated is None else stated

    @classmethod
    def of(cls, runtime: Runtime | None, policy: RoutePolicy) -> _Limits:
        s = runtime.settings if runtime is not None else Settings()
        if policy.body == "upload":
            cap = s.max_upload_bytes + MULTIPART_OVERHEAD
            return cls(cap, FileTooLarge, *_times(s), stated=s.max_upload_bytes)
        return cls(s.max_json_bytes, BodyTooLarge, *_times(s))

    def too_large(self) -> DocRAGError:
        what = "upload" if self.error is FileTooLarge else "request body"
        return self.error(f"the {what} exceeds the limit of {self.stated} bytes")

    def check_declared(self, headers: Headers) -> None:
        declared = headers.get("content-length")
        if declared is None:
            return
        if not declared.isdigit():
            raise InvalidRequest("Content-Length is not a number")
        if int(declared) > self.cap:
            raise self.too_large()


def _times(s: Settings) -> tuple[float, float]:
    return float(s.body_idle_timeout_seconds), float(s.body_timeout_seconds)


class _Body:
    """One request: its body counted and timed while the app reads it. Once the body fails,
    whatever the app answers (a parser's 400, say) is replaced by that failure's error."""

    def __init__(self, app: ASGIApp, limits: _Limits, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.limits = limits
        self.headers = headers
        self.received = 0
        self.deadline = time.monotonic() + limits.total
        self.failure: DocRAGError | None = None
        self.started = False
        self.replaced = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def guarded_receive() -> Message:
            if self.failure is not None:
                return {"type": "http.disconnect"}
            wait = min(self.limits.idle, max(0.0, self.deadline - time.monotonic()))
            try:
                message = await asyncio.wait_for(receive(), timeout=wait)
            except TimeoutError:
                self.failure = BodyTimeout(
                    f"the request body stalled or took longer than {self.limits.total:g} s"
                )
                raise self.failure from None
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.limits.cap:
                    self.failure = self.limits.too_large()
                    raise self.failure
            return message

        async def guarded_send(message: Message) -> None:
            if self.replaced:
                return
            if message["type"] == "http.response.start":
                if self.failure is not None:
                    self.replaced = True
                    await _respond(send, self.failure)
                    return
                self.started = True
                if self.headers:
                    message = {**message, "headers": [*message.get("headers", ()), *self.headers]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if self.failure is None or self.started:
                raise
            if not self.replaced:
                self.replaced = True
                await _respond(send, self.failure)


async def _respond(send: Send, exc: DocRAGError) -> None:
    body = json.dumps({"error": {"code": exc.code, "message": exc.message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="docrag"'))
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.response_headers().items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: For the other ASGI middlewares (``api/admission.py``): a typed error as the whole answer.
send_error = _respond
