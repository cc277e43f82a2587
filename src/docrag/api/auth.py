"""Who is calling, read from the request's headers alone (never its body).

An :class:`Authenticator` turns headers into a :class:`~docrag.domain.Principal`. The guard
middleware (``api/guard.py``) runs the configured one before any route reads a body. The
built-in chain (:func:`credentials`): a bearer token shaped like a JWT is a user's access token
(:class:`AccessTokenAuthenticator`, docs/auth.md), anything else an API key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from fastapi.security.utils import get_authorization_scheme_param

from docrag.domain import Principal
from docrag.errors import Unauthenticated
from docrag.identity.service import Identity
from docrag.identity.tokens import looks_like_jwt
from docrag.services import Runtime
from docrag.store.protocol import KeyLookup


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        """The caller these headers prove, or ``None`` when they carry no credential of this kind.

        ``headers`` has lower-case names. Runs in a worker thread (it may query the database).

        :raises Unauthenticated: the headers carry a credential of this kind that is not valid.
        """
        ...


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one.

    Parsed as FastAPI's ``HTTPBearer`` parses it (its ``get_authorization_scheme_param``); the
    dependency itself can't run here: the guard authenticates in ASGI middleware, before routing.
    """
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class ApiKeyAuthenticator:
    """``Authorization: Bearer drg_...``: a key stored (hashed) in ``api_keys``."""

    def __init__(self, store: KeyLookup) -> None:
        self._store = store

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        key = bearer_token(headers)
        if key is None:
            return None
        principal = self._store.principal_for_key(key)
        if principal is None:
            raise Unauthenticated("unknown or revoked API key")
        return principal


class AccessTokenAuthenticator:
    """``Authorization: Bearer <JWT>``: a signed-in user's access token, whose session is checked
    on every request (revoked, expired or disabled: 401 at once)."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        token = bearer_token(headers)
        if token is None or not looks_like_jwt(token):
            return None  # not a JWT: an API key, maybe
        return self._identity.principal_for_token(token)


class ChainAuthenticator:
    """The first of ``authenticators`` that recognises a credential decides."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._chain = tuple(authenticators)

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        for authenticator in self._chain:
            principal = authenticator.authenticate(headers)
            if principal is not None:
                return principal
        return None


def require_principal(authenticator: Authenticator, headers: Mapping[str, str]) -> Principal:
    """:raises Unauthenticated: no credential, or an invalid one."""
    principal = authenticator.authenticate(headers)
    if principal is None:
        raise Unauthenticated("send an API key or an access token as 'Authorization: Bearer <token>'")
    return principal


def credentials(runtime: Runtime) -> Authenticator:
    """What the API accepts by default: users' access tokens and API keys."""
    return ChainAuthenticator(
        [AccessTokenAuthenticator(runtime.identity), ApiKeyAuthenticator(runtime.store)]
    )
