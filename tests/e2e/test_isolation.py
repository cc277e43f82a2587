"""Tenant and collection isolation, generated from the live /openapi.json (issue 14, proof).

Every guarded operation of the spec that names a resource, by a path parameter or by a body
field (``collections``, ``*_id``), becomes a case: tenant B presenting tenant A's real ids and
names gets 404 while A gets its success status, and so does a key of A scoped to another of A's
collections (403 on the tenant-wide routes it may not call at all, docs/keys.md). Every guarded
listing (a GET without parameters) is read by both attackers too. A's canary text appears in
none of their answers. All of it twice: through an API whose database role row security binds,
and through one connected as the schema's owner, which it does not (the store's WHERE clauses
alone). A new route is covered without editing this file; one whose parameter or required field
this file can't fill fails it, and the covered operations must be exactly the spec's, so a route
can't leak unnoticed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest

from api_calls import error_code, upload
from docrag.api.app import create_app
from docrag.api.roles import policy_for
from docrag.services import Runtime
from docrag.store.keys import KeyStore
from docs_factory import make_pdf
from http_servers import serve
from runtimes import second_runtime

CANARY_ALPHA = "zephyrquokka"  # only in tenant A's collection alpha
CANARY_BETA = "orchidmantle"  # only in tenant A's collection beta
#: Fields of a body that name a resource; the other required fields get these values.
REQUIRED_VALUES: dict[str, Any] = {
    "question": "Where does the keeper keep the lamp oil?",
    "query": "lamp oil",
    "name": "isolation-probe",
    "role": "reader",
    "rating": "up",
    "redact": False,
}
PROBE_FILE = ("probe.md", b"# Probe\n\nThe probe document mentions nothing secret.\n", "text/markdown")
#: Routes that create what they name when it does not exist: another tenant's request lands in
#: its own namespace (and is checked not to touch A's), never in A's.
CREATES_BY_NAME = {("POST", "/v1/collections/{name}/documents")}
#: Attacked like every route, but never run by its owner here: erasing tenant A would end the
#: module (tests/e2e/test_subject_rights.py erases a tenant of its own).
NEVER_SUCCEEDED = {("DELETE", "/v1/tenants/{tenant_id}")}
#: Path parameters that are a position inside the resource another parameter names (a PDF's page),
#: not a resource of their own: only that other parameter is attacked.
POSITIONS = {"page"}
PASSWORD = "isolation suite password"
_counter = itertools.count()


@dataclass
class Party:
    client: httpx.Client
    #: Path parameters and body fields -> this party's own values.
    values: dict[str, Any]
    canaries: tuple[str, ...] = ()
    #: A key of A's tenant scoped to collections (else: another tenant's admin).
    scoped: bool = False
    responses: list[httpx.Response] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    target: str  # the path parameter or body field set to A's value
    in_body: bool
    operation: dict[str, Any]


def seed(client: httpx.Client, collection: str, canary: str, tenant: str = "default") -> dict[str, Any]:
    """A collection with a canary document, a conversation with an answer over it, feedback, a
    key, and a signed-in user of the tenant (its id, session and token)."""
    # A PDF, so that its page routes (a citation's page image and quote boxes) have a page to show.
    text = [["Keeper notes", f"The {canary} lamp oil is kept in the cellar of the {collection} tower."]]
    doc = upload(client, collection, f"{collection}.pdf", make_pdf(text), f"{canary} notes")
    assert doc.status_code == 201, doc.text
    conversation = client.post("/v1/conversations", json={"title": f"{canary} chat"}).json()
    asked = client.post(
        "/v1/ask",
        json={
            "question": f"Where is the {canary} lamp oil kept?",
            "collections": [collection],
            "conversation_id": conversation["id"],
        },
    )
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert canary in asked.text  # the canary is really there to leak
    assert (
        client.post(f"/v1/answers/{answer['answer_id']}/feedback", json={"rating": "up"}).status_code == 201
    )
    key = client.post("/v1/keys", json={"name": f"{canary} key", "role": "reader"}).json()
    address = f"{collection}-{next(_counter)}@example.com"
    user = client.post("/v1/users", json={"email": address, "password": PASSWORD, "role": "reader"})
    assert user.status_code == 201, user.text
    signed_in = client.post("/v1/auth/login", json={"email": address, "password": PASSWORD, "tenant": tenant})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    return {
        "user_id": user.json()["id"],
        "session_id": claims["sid"],
        "tenant_id": claims["tid"],
        "user_token": token,
        "name": collection,
        "collections": [collection],
        "document_id": doc.json()["id"],
        "page": 1,
        "conversation_id": conversation["id"],
        "answer_id": answer["answer_id"],
        "key_id": key["id"],
    }


@pytest.fixture(scope="module")
def spec(anon: httpx.Client) -> dict[str, Any]:
    response = anon.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture(scope="module")
def world(client: httpx.Client, admin_key: str, base_url: str, runtime: Runtime) -> dict[str, Any]:
    """Each party's key and own values: A's admin (collection alpha), A's key scoped to beta, B's admin."""
    alpha = seed(client, "alpha", CANARY_ALPHA)
    beta = seed(client, "beta", CANARY_BETA)
    keys = KeyStore(runtime.store)
    beta_id = _collection_id(client, "beta")
    _, scoped_key = keys.create(runtime.default_tenant, "beta only", "admin", collections=[beta_id])
    _, b_key = keys.create(runtime.store.ensure_tenant("tenant-b"), "b admin", "admin")
    with _client(base_url, scoped_key) as scoped, _client(base_url, b_key) as stranger:
        return {
            "a": (admin_key, alpha),
            "scoped": (scoped_key, seed_scoped(scoped, beta)),
            "b": (b_key, seed(stranger, "bravo", "bravocanary", tenant="tenant-b")),
        }


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


@pytest.fixture(scope="module", params=["service role", "owner"])
def server(
    request: pytest.FixtureRequest, base_url: str, runtime: Runtime, database_url: str
) -> Iterator[str]:
    """The module's API, whose database role row security binds; then one connected as the schema's
    owner, which it does not bind: the store's own WHERE clauses must hold every case alone."""
    if request.param == "service role":
        yield base_url
        return
    for owner in second_runtime(database_url):
        with serve(create_app(owner.settings, runtime=owner)) as url:
            yield url


@pytest.fixture
def parties(world: dict[str, Any], server: str) -> Iterator[dict[str, Party]]:
    (a_key, alpha), (s_key, beta_own), (b_key, bravo) = world["a"], world["scoped"], world["b"]
    with _client(server, a_key) as a, _client(server, s_key) as scoped, _client(server, b_key) as b:
        yield {
            "a": Party(a, alpha),
            "scoped": Party(scoped, beta_own, (CANARY_ALPHA,), scoped=True),
            "b": Party(b, bravo, (CANARY_ALPHA, CANARY_BETA)),
        }


def seed_scoped(scoped: httpx.Client, beta: dict[str, Any]) -> dict[str, Any]:
    """The scoped key's own values: beta's, with a conversation and an answer of its own."""
    conversation = scoped.post("/v1/conversations", json={"title": "beta chat"}).json()
    asked = scoped.post(
        "/v1/ask",
        json={"question": "lamp oil?", "collections": ["beta"], "conversation_id": conversation["id"]},
    )
    assert asked.status_code == 200, asked.text
    return beta | {"conversation_id": conversation["id"], "answer_id": asked.json()["answer_id"]}


def _collection_id(client: httpx.Client, name: str) -> Any:
    return client.get(f"/v1/collections/{name}").json()["id"]


def cases(spec: dict[str, Any]) -> list[Case]:
    """Every guarded operation with a path parameter, or a body field naming a resource."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            method = method.upper()
            if policy_for(method, path).role is None:
                continue  # public: names no tenant's resource
            for name in re.findall(r"{(\w+)}", path):
                if name in POSITIONS:
                    continue
                found.append(Case(method, path, name, False, operation))
            for name in body_schema(spec, operation).get("properties", {}):
                if name == "collections" or name.endswith("_id"):
                    found.append(Case(method, path, name, True, operation))
    return found


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return resolve(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return resolve(spec, option)
    return schema


def body_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    return resolve(spec, content["application/json"]["schema"]) if "application/json" in content else {}


def request(spec: dict[str, Any], case: Case, target: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """httpx arguments: ``case.target`` from ``target``, every other resource from ``own``."""
    params = re.findall(r"{(\w+)}", case.path)
    unknown = [p for p in params if p not in own]
    assert not unknown, f"{case.method} {case.path}: no value for {unknown}; add one to seed()"
    url = case.path
    for name in params:
        url = url.replace("{" + name + "}", str((target if name == case.target else own)[name]))
    kwargs: dict[str, Any] = {"method": case.method, "url": url}
    content = case.operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        kwargs["files"] = {"file": PROBE_FILE}
    schema = body_schema(spec, case.operation)
    if schema:
        body: dict[str, Any] = {}
        for name in schema.get("properties", {}):
            if name == case.target:
                body[name] = target[name]
            elif name == "collections":
                body[name] = own["collections"]
        for name in schema.get("required", []):
            if name not in body:
                assert name in REQUIRED_VALUES, f"{case.method} {case.path}: no value for field {name!r}"
                body[name] = REQUIRED_VALUES[name]
        kwargs["json"] = body
    return kwargs


def attack(spec: dict[str, Any], case: Case, attacker: Party, victim: dict[str, Any]) -> None:
    response = attacker.client.request(**request(spec, case, victim, attacker.values))
    attacker.responses.append(response)
    where = f"{case.method} {case.path} [{case.target}]"
    wide = policy_for(case.method, case.path).tenant_wide
    if policy_for(case.method, case.path).user:  # a signed-in user's own route: no key reaches it
        assert response.status_code == 403 and error_code(response) == "forbidden", (where, response.text)
        return
    if (case.method, case.path) in CREATES_BY_NAME and not attacker.scoped:
        # Another tenant's upload into a name it lacks makes its own collection of that name.
        assert response.status_code in (201, 202), (where, response.text)
        assert response.json()["collection_id"] not in victim["collection_ids"], where
        assert attacker.client.delete(f"/v1/collections/{victim['name']}").status_code == 204
        return
    if wide and attacker.scoped:
        assert response.status_code == 403 and error_code(response) == "forbidden", (where, response.text)
        return
    assert response.status_code == 404, (where, response.status_code, response.text)
    assert error_code(response).endswith("not_found"), (where, response.text)


def succeed(spec: dict[str, Any], case: Case, owner: Party, values: dict[str, Any]) -> None:
    if policy_for(case.method, case.path).user:  # the user whose values these are, signed in
        with _client(str(owner.client.base_url), values["user_token"]) as user:
            response = user.request(**request(spec, case, values, values))
    else:
        response = owner.client.request(**request(spec, case, values, values))
    assert 200 <= response.status_code < 300, (case.method, case.path, case.target, response.text)


def fresh(client: httpx.Client) -> dict[str, Any]:
    """Throwaway resources of A for the operations that destroy what they name."""
    return seed(client, f"fresh-{next(_counter)}", "freshcanary")


def test_no_route_lets_another_tenant_or_scope_reach_a_resource(
    spec: dict[str, Any], parties: dict[str, Party]
) -> None:
    a, scoped, b = parties["a"], parties["scoped"], parties["b"]
    victim = a.values | {"collection_ids": [_collection_id(a.client, "alpha")]}
    found = cases(spec)
    templated = {
        (m.upper(), p)
        for p, item in spec["paths"].items()
        for m in item
        if "{" in p and policy_for(m.upper(), p).role is not None
    }
    assert {(c.method, c.path) for c in found if not c.in_body} == templated
    assert len(templated) >= 13 and any(c.in_body for c in found), found  # the spec was really read
    before = a.client.get("/v1/collections/alpha").json()["document_count"]
    # Creating routes last: another tenant's upload makes (then deletes) its own "alpha".
    for case in sorted(found, key=lambda c: (c.method, c.path) in CREATES_BY_NAME):
        for attacker in (b, scoped):
            attack(spec, case, attacker, victim)
    # A signed-in user of B presenting A's values on the users' own routes.
    with _client(str(b.client.base_url), b.values["user_token"]) as b_user:
        for case in found:
            if policy_for(case.method, case.path).user:
                response = b_user.request(**request(spec, case, victim, b.values))
                assert response.status_code == 404, (case.method, case.path, response.text)
                b.responses.append(response)
    assert a.client.get("/v1/collections/alpha").json()["document_count"] == before
    assert a.client.get(f"/v1/documents/{victim['document_id']}").json()["version"] == 1
    for case in found:
        if (case.method, case.path) in NEVER_SUCCEEDED:
            continue
        destroys = case.method in ("DELETE", "PUT") and not case.path.endswith("/retention")
        succeed(spec, case, a, fresh(a.client) if destroys else a.values)
        policy = policy_for(case.method, case.path)
        if not policy.tenant_wide and not policy.user and not destroys:
            succeed(spec, case, scoped, scoped.values)  # the same route works inside the scope
    for party in (b, scoped):
        for response in party.responses:
            for canary in party.canaries:
                assert canary not in response.text, (response.request.method, response.request.url)


def test_listings_and_searches_show_nothing_of_the_others(
    spec: dict[str, Any], parties: dict[str, Party]
) -> None:
    a, scoped, b = parties["a"], parties["scoped"], parties["b"]
    answered = b.client.get("/v1/feedback/summary").json()["answers"]
    alpha_ids = [str(v) for k, v in a.values.items() if k.endswith("_id")] + [
        _collection_id(a.client, "alpha")
    ]
    listings = [
        p
        for p, item in spec["paths"].items()
        if "get" in item and "{" not in p and policy_for("GET", p).role is not None
    ]
    assert "/v1/collections" in listings and "/v1/audit" in listings
    for party in (b, scoped):
        own = party.values["collections"]
        answers = [party.client.get(p) for p in listings]
        # Questions A's documents answer best (not naming the canary: answers echo the question).
        lure = "Where is the lamp oil kept in the cellar of the alpha tower?"
        answers += [
            party.client.post("/v1/search", json={"query": lure, "collections": own}),
            party.client.post("/v1/ask", json={"question": lure, "collections": own}),
            party.client.post("/v1/ask", json={"question": lure, "collections": own, "stream": True}),
        ]
        for response in answers:
            policy = policy_for(response.request.method, response.request.url.path)
            if (policy.tenant_wide and party is scoped) or policy.user:  # user routes: not for keys
                assert response.status_code == 403
                continue
            assert response.status_code == 200, (response.request.url, response.text)
            for secret in (*party.canaries, *alpha_ids):
                assert secret not in response.text, (response.request.url, secret)
    assert [c["name"] for c in scoped.client.get("/v1/collections").json()] == ["beta"]
    assert [c["name"] for c in b.client.get("/v1/collections").json()] == ["bravo"]
    summary = b.client.get("/v1/feedback/summary").json()
    assert summary["answers"] == answered + 2  # B's own: the two above, none of A's
