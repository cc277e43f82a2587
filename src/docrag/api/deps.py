"""Typed dependencies: the runtime built in the lifespan, and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from docrag.api.auth import credentials, require_principal
from docrag.domain import Principal
from docrag.errors import Forbidden, Unavailable
from docrag.services import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise Unavailable("DocRAG is starting")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """The caller the guard middleware authenticated from the headers (``api/guard.py``)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        # Only reachable for a route the role matrix marks public: authenticate here too.
        principal = require_principal(credentials(runtime), request.headers)
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
