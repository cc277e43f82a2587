"""Typed dependencies: the runtime built in the lifespan, and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docrag.domain import Principal
from docrag.errors import Forbidden, Unauthenticated, Unavailable
from docrag.services import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise Unavailable("DocRAG is starting")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    principal = runtime.store.principal_for_key(key.strip())
    if principal is None:
        raise Unauthenticated("unknown or revoked API key")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_writer(principal: PrincipalDep) -> Principal:
    if not principal.can_write():
        raise Forbidden("this API key may only read")
    return principal


WriterDep = Annotated[Principal, Depends(get_writer)]


def get_admin(principal: PrincipalDep) -> Principal:
    if principal.role != "admin":
        raise Forbidden("only an admin API key may do this")
    return principal


AdminDep = Annotated[Principal, Depends(get_admin)]
