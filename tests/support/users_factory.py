"""Users and their sign-ins for the tests of docs/auth.md: made through the real API or store,
signed in over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from docrag.domain.identity import User
from docrag.identity.accounts import Accounts
from docrag.services import Runtime

PASSWORD = "correct horse battery staple"


def email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@example.com"


def make_user(
    runtime: Runtime, role: str = "reader", *, label: str = "user", tenant: str = "default"
) -> User:
    tenant_id = runtime.store.ensure_tenant(tenant)
    return Accounts(runtime.identity).create(tenant_id, email(label), PASSWORD, role)


def login(
    http: httpx.Client,
    address: str,
    password: str = PASSWORD,
    *,
    totp: str | None = None,
    tenant: str | None = None,
    agent: str = "pytest",
) -> httpx.Response:
    body: dict[str, Any] = {"email": address, "password": password}
    if totp is not None:
        body["totp"] = totp
    if tenant is not None:
        body["tenant"] = tenant
    return http.post("/v1/auth/login", json=body, headers={"user-agent": agent})


def tokens(http: httpx.Client, address: str, **kwargs: Any) -> dict[str, Any]:
    response = login(http, address, **kwargs)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])
