"""The role matrix, route by route over HTTP: every route of the app is in the table, a request
without a key gets 401, a key one role below gets 403, and the role the route needs gets past the
guard (whatever the route then answers for a probe body, never 401 or 403)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from docrag.api.roles import ROUTES, markdown
from docrag.services import Runtime, new_api_key
from paths import ROOT
from users_factory import make_user, tokens

BELOW = {"editor": "reader", "admin": "editor"}
# Served but not described in the OpenAPI document: the page and the documentation itself.
NOT_IN_SCHEMA = {"/", "/assets/{name}", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


@pytest.fixture(scope="module")
def keys(runtime: Runtime, admin_key: str) -> dict[str, str]:
    made = {role: new_api_key() for role in ("reader", "editor")}
    for role, key in made.items():
        runtime.store.add_api_key(runtime.default_tenant, f"roles {role}", key, role)
    return {**made, "admin": admin_key}


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def _concrete(template: str) -> str:
    """A path of the template that names nothing that exists (a delete must not delete anything)."""
    path = template.replace("{name}", "roles-probe-no-such-collection")
    return re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)


def _call(http: httpx.Client, method: str, template: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"json": {}} if method in ("POST", "PUT") else {}
    return http.request(method, _concrete(template), headers=headers, **body)


GUARDED = [(m, p, pol.role) for (m, p), pol in ROUTES.items() if pol.role is not None and not pol.user]
#: A signed-in user's own routes (sessions, MFA, password): for access tokens, not API keys.
USER = [(m, p) for (m, p), pol in ROUTES.items() if pol.user]


def test_every_route_of_the_api_is_in_the_table(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    listed = {(m, p) for m, p in ROUTES if p not in NOT_IN_SCHEMA}
    assert served - listed == set(), "routes without a role in api/roles.py"
    assert listed - served == set(), "roles for routes the app does not serve"


def test_the_published_matrix_is_the_table() -> None:
    assert (ROOT / "docs" / "roles.md").read_text() == markdown()


@pytest.mark.parametrize(("method", "template", "role"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_each_route_needs_its_role(
    http: httpx.Client, keys: dict[str, str], method: str, template: str, role: str
) -> None:
    anonymous = _call(http, method, template, None)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    if role in BELOW:
        below = _call(http, method, template, keys[BELOW[role]])
        assert below.status_code == 403, below.text
        assert below.json()["error"]["code"] == "forbidden"
    allowed = _call(http, method, template, keys[role])
    assert allowed.status_code not in (401, 403), allowed.text


def test_an_editor_cannot_delete_a_collection_but_an_admin_can(
    http: httpx.Client, keys: dict[str, str]
) -> None:
    editor = {"Authorization": f"Bearer {keys['editor']}"}
    assert http.post("/v1/collections", json={"name": "roles-doomed"}, headers=editor).status_code == 201
    refused = http.delete("/v1/collections/roles-doomed", headers=editor)
    assert refused.status_code == 403
    assert http.get("/v1/collections/roles-doomed", headers=editor).status_code == 200
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert http.delete("/v1/collections/roles-doomed", headers=admin).status_code == 204
    assert http.get("/v1/collections/roles-doomed", headers=editor).status_code == 404


@pytest.mark.parametrize(("method", "template"), USER, ids=[f"{m} {p}" for m, p in USER])
def test_each_user_route_needs_an_access_token(
    http: httpx.Client, keys: dict[str, str], runtime: Runtime, method: str, template: str
) -> None:
    anonymous = _call(http, method, template, None)
    assert anonymous.status_code == 401, anonymous.text
    key = _call(http, method, template, keys["reader"])
    assert key.status_code == 403 and key.json()["error"]["code"] == "forbidden", key.text
    # A fresh session each time: the probe may be a logout.
    access = tokens(http, make_user(runtime, "reader").email)["access_token"]
    allowed = _call(http, method, template, access)
    assert allowed.status_code not in (401, 403), allowed.text
