"""API keys over HTTP (issue 14 point 4): shown once, stored hashed, listed without secrets,
revoked or expired from the very next request (in every process), never minted above the
caller's role, and a key scoped to collections sees nothing else, whether or not row security
binds the service's database role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from api_calls import error_code, upload
from docrag.cli.main import app as cli_app
from docrag.services import Runtime
from docrag.store.keys import hash_key
from runtimes import second_runtime, served

CANARY = "quillfeather"


def bearer(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def make_key(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/keys", json={"name": "k", "role": "reader", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def collections(client: httpx.Client) -> dict[str, str]:
    """Two collections of the default tenant: ``open`` and ``secret`` (holding the canary)."""
    ids = {}
    for name, text in (("open", "The lighthouse keeper logs the tides."), ("secret", f"The {CANARY} vault.")):
        response = upload(client, name, f"{name}.md", f"# {name}\n\n{text}\n".encode())
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


@pytest.fixture(scope="module")
def owner_runtime(runtime: Runtime, database_url: str) -> Iterator[Runtime]:
    """A runtime connected as the schema's owner: row security does not bind it."""
    yield from second_runtime(database_url)


def test_a_key_is_shown_once_stored_hashed_and_listed_without_its_secret(
    client: httpx.Client, base_url: str, database_url: str
) -> None:
    made = make_key(client, name="ops reader")
    secret = made.pop("key")
    assert secret.startswith("drg_") and made["role"] == "reader" and made["collections"] is None
    listed = client.get("/v1/keys")
    assert listed.status_code == 200
    assert secret not in listed.text and "key_hash" not in listed.text
    mine = [k for k in listed.json() if k["id"] == made["id"]]
    assert mine and mine[0]["name"] == "ops reader" and mine[0]["last_used_at"] is None
    with psycopg.connect(database_url) as conn:  # the owner: the column holds the hash, not the key
        row = conn.execute("SELECT key_hash FROM api_keys WHERE id = %s", (made["id"],)).fetchone()
    assert row is not None and bytes(row[0]) == hash_key(secret) and secret.encode() not in bytes(row[0])
    with bearer(base_url, secret) as reader:
        assert reader.get("/v1/collections").status_code == 200
        assert reader.post("/v1/keys", json={"name": "x", "role": "reader"}).status_code == 403
    used = next(k for k in client.get("/v1/keys").json() if k["id"] == made["id"])
    assert used["last_used_at"] is not None


def test_revocation_holds_from_the_next_request_in_every_process(
    client: httpx.Client, base_url: str, owner_runtime: Runtime
) -> None:
    made = make_key(client, name="to revoke")
    # A second API over the same database, with its own runtime, pool and state.
    with served(owner_runtime, made["key"]) as first, bearer(base_url, made["key"]) as second:
        assert first.get("/v1/collections").status_code == 200
        assert second.get("/v1/collections").status_code == 200
        assert client.delete(f"/v1/keys/{made['id']}").status_code == 204
        for process in (first, second):
            refused = process.get("/v1/collections")
            assert refused.status_code == 401 and error_code(refused) == "unauthenticated"
    listed = next(k for k in client.get("/v1/keys").json() if k["id"] == made["id"])
    assert listed["revoked_at"] is not None
    again = client.delete(f"/v1/keys/{made['id']}")  # revoking twice changes nothing
    assert again.status_code == 204
    assert client.delete(f"/v1/keys/{UUID(int=7)}").status_code == 404
    admin = make_key(client, name="second admin", role="admin")
    with bearer(base_url, admin["key"]) as c:
        itself = c.delete(f"/v1/keys/{admin['id']}")
        assert itself.status_code == 409 and error_code(itself) == "own_key"
        assert c.get("/v1/keys").status_code == 200  # still valid
    assert client.delete(f"/v1/keys/{admin['id']}").status_code == 204


def test_an_expired_key_is_refused(client: httpx.Client, base_url: str) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    made = make_key(client, name="short", expires_at=expires.isoformat())
    with bearer(base_url, made["key"]) as short:
        assert short.get("/v1/collections").status_code == 200
        time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.3)
        assert short.get("/v1/collections").status_code == 401


def test_bad_key_requests_are_typed(client: httpx.Client) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "p", "role": "reader", "expires_at": past}, 422, "invalid_request"),
        ({"name": "n", "role": "reader", "expires_at": "2099-01-01T00:00:00"}, 422, "invalid_request"),
        ({"name": "r", "role": "owner"}, 422, "invalid_request"),
        ({"name": "", "role": "reader"}, 422, "invalid_request"),
        ({"name": "nul\x00", "role": "reader"}, 422, "invalid_request"),
        ({"name": "c", "role": "reader", "collections": ["no-such"]}, 404, "collection_not_found"),
        ({"name": "c", "role": "reader", "collections": []}, 422, "invalid_request"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/keys", json=body)
        assert (response.status_code, error_code(response)) == (status, code), body


def test_no_key_mints_a_key_above_its_role(client: httpx.Client, base_url: str) -> None:
    editor = make_key(client, name="editor", role="editor")
    with bearer(base_url, editor["key"]) as c:
        for role in ("reader", "editor", "admin"):
            response = c.post("/v1/keys", json={"name": "up", "role": role})
            assert response.status_code == 403 and error_code(response) == "forbidden"
        assert c.get("/v1/keys").status_code == 403
        assert c.delete(f"/v1/keys/{editor['id']}").status_code == 403


def check_scoped(scoped: httpx.Client, admin: httpx.Client, ids: dict[str, str]) -> None:
    """What a key of the default tenant scoped to ``open`` may and may not see."""
    names = [c["name"] for c in scoped.get("/v1/collections").json()]
    assert names == ["open"]
    assert scoped.get("/v1/collections/open").status_code == 200
    assert scoped.get(f"/v1/documents/{ids['open']}").status_code == 200
    hidden: list[httpx.Response] = [
        scoped.get("/v1/collections/secret"),
        scoped.get("/v1/collections/secret/documents"),
        scoped.get("/v1/collections/secret/retention"),
        scoped.get(f"/v1/documents/{ids['secret']}"),
        scoped.post("/v1/search", json={"query": CANARY, "collections": ["secret"]}),
        scoped.post("/v1/search", json={"query": CANARY, "collections": ["open", "secret"]}),
        scoped.post("/v1/ask", json={"question": f"What is the {CANARY}?", "collections": ["secret"]}),
        upload(scoped, "secret", "x.md", b"# x\n\nInto another collection.\n"),
        scoped.put(f"/v1/documents/{ids['secret']}", files={"file": ("x.md", b"# y\n\nReplaced.\n")}),
        scoped.delete(f"/v1/documents/{ids['secret']}"),
        scoped.delete("/v1/collections/secret"),
        # A collection that does not exist yet: a scoped key creates none.
        upload(scoped, "brand-new", "x.md", b"# x\n\nA new collection.\n"),
    ]
    for response in hidden:
        assert response.status_code == 404, (response.request.url, response.text)
        assert CANARY not in response.text
    for response in (
        scoped.post("/v1/collections", json={"name": "made-by-scoped"}),
        scoped.get("/v1/keys"),
        scoped.post("/v1/keys", json={"name": "escape", "role": "reader"}),
        scoped.get("/v1/audit"),
        scoped.get("/v1/feedback/summary"),
    ):
        assert response.status_code == 403 and error_code(response) == "forbidden", response.request.url
    assert scoped.post("/v1/search", json={"query": CANARY, "collections": ["open"]}).status_code == 200
    # Nothing above changed the hidden collection, and no collection was made.
    assert admin.get(f"/v1/documents/{ids['secret']}").json()["version"] == 1
    assert {c["name"] for c in admin.get("/v1/collections").json()} >= {"open", "secret"}
    assert admin.get("/v1/collections/brand-new").status_code == 404


def test_a_scoped_key_sees_nothing_else(
    client: httpx.Client, base_url: str, collections: dict[str, str]
) -> None:
    made = make_key(client, name="open only", role="admin", collections=["open"])
    assert made["collections"] == ["open"]
    with bearer(base_url, made["key"]) as scoped:
        check_scoped(scoped, client, collections)


def test_the_scope_holds_without_row_security(
    client: httpx.Client, collections: dict[str, str], owner_runtime: Runtime
) -> None:
    """The store's own WHERE clauses scope the key: an API whose role is the owner (migrations and
    service share DOCRAG_DATABASE_URL) is bound all the same."""
    made = make_key(client, name="open only, owner", role="admin", collections=["open"])
    with served(owner_runtime, made["key"]) as scoped:
        check_scoped(scoped, client, collections)


def test_cli_keys_create_with_scope_and_expiry(
    client: httpx.Client, base_url: str, collections: dict[str, str], settings: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("DOCRAG_DATABASE_URL", settings.database_url)
    if settings.database_owner_url:
        monkeypatch.setenv("DOCRAG_DATABASE_OWNER_URL", settings.database_owner_url)
    expires = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    args = ["keys", "create", "--name", "cli scoped", "--role", "reader", "--collections", "open"]
    result = CliRunner().invoke(cli_app, [*args, "--expires-at", expires])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    listed = [k for k in client.get("/v1/keys").json() if k["name"] == "cli scoped"]
    assert listed and listed[0]["collections"] == ["open"] and listed[0]["expires_at"] is not None
    with bearer(base_url, secret) as scoped:
        assert [c["name"] for c in scoped.get("/v1/collections").json()] == ["open"]
    events = client.get("/v1/audit", params={"action": "key.created", "actor": "cli"}).json()["events"]
    assert [e["target"] for e in events] == [listed[0]["id"]]
