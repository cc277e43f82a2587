"""The audit log (issue 14 point 7): what changes keys, documents, collections and retention is
recorded with actor, target, source address and request id, never with document text or a
secret; admins page through it with filters; the service's database role may append and read
it but neither UPDATE nor DELETE it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from api_calls import error_code, upload
from docrag.cli.main import app as cli_app
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.audit import AuditLog, key_actor
from docrag.store.keys import KeyStore
from docrag.store.maintenance import prune_history

CANARY = "marrowlantern"


def events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


@pytest.fixture(scope="module")
def admin_id(runtime: Runtime, admin_key: str) -> str:
    principal = runtime.store.principal_for_key(admin_key)
    assert principal is not None
    return str(principal.key_id)


@pytest.fixture(scope="module")
def story(client: httpx.Client) -> dict[str, Any]:
    """One of each audited change, made over HTTP with a known request id."""
    rid = {"X-Request-ID": "audit-test-1"}
    made = client.post("/v1/collections", json={"name": "ledger"}, headers=rid).json()
    doc = upload(
        client, "ledger", "l.md", f"# Ledger\n\nThe {CANARY} is in the cellar.\n".encode(), "Secret title"
    )
    assert doc.status_code == 201, doc.text
    document_id = doc.json()["id"]
    replaced = client.put(
        f"/v1/documents/{document_id}",
        params={"wait": "true"},
        files={"file": ("l.md", f"# Ledger\n\nThe {CANARY} moved upstairs.\n".encode())},
    )
    assert replaced.status_code == 201, replaced.text
    assert client.put("/v1/collections/ledger/retention", json={"documents_days": 30}).status_code == 200
    key = client.post("/v1/keys", json={"name": "auditor", "role": "reader"}).json()
    assert client.delete(f"/v1/keys/{key['id']}").status_code == 204
    assert client.delete(f"/v1/documents/{document_id}").status_code == 204
    assert client.delete("/v1/collections/ledger").status_code == 204
    return {"collection": made["id"], "document": document_id, "key": key}


def test_each_change_is_recorded_once_with_who_what_and_where(
    client: httpx.Client, story: dict[str, Any], admin_id: str
) -> None:
    found = events(client, limit=50)
    expected = [
        ("collection.created", story["collection"]),
        ("document.uploaded", story["document"]),
        ("document.replaced", story["document"]),
        ("retention.changed", story["collection"]),
        ("key.created", story["key"]["id"]),
        ("key.revoked", story["key"]["id"]),
        ("document.deleted", story["document"]),
        ("collection.deleted", story["collection"]),
    ]
    assert [(e["action"], e["target"]) for e in reversed(found)][-len(expected) :] == expected
    for event in found[: len(expected)]:
        assert event["actor"] == f"key:{admin_id}"
        assert event["source"] == "127.0.0.1"
        assert event["request_id"]
    first = next(e for e in found if e["action"] == "collection.created")
    assert first["request_id"] == "audit-test-1"
    assert first["detail"] == {"name": "ledger"}
    uploaded = next(e for e in found if e["action"] == "document.uploaded")
    assert uploaded["detail"]["collection"] == "ledger" and uploaded["detail"]["size_bytes"] > 0
    retention = next(e for e in found if e["action"] == "retention.changed")
    assert retention["detail"]["documents_days"] == 30
    # Neither the document's text, nor its title, nor the new key's secret.
    text = client.get("/v1/audit", params={"limit": 500}).text
    assert CANARY not in text and "Secret title" not in text and story["key"]["key"] not in text


def test_filters_and_pages(client: httpx.Client, story: dict[str, Any], admin_id: str) -> None:
    assert {e["action"] for e in events(client, action="key.created")} == {"key.created"}
    on_document = events(client, target=story["document"])
    assert [e["action"] for e in on_document] == [
        "document.deleted",
        "document.replaced",
        "document.uploaded",
    ]
    assert (
        events(client, actor=f"key:{admin_id}", action="collection.deleted")[0]["target"]
        == story["collection"]
    )
    assert events(client, actor="key:00000000-0000-0000-0000-000000000000") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert events(client, since=future) == []
    assert len(events(client, until=future, limit=3)) == 3
    # Keyset pages: newest first, no event twice, none missed.
    everything = events(client, limit=500)
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"before": before} if before else {})
        page = client.get("/v1/audit", params=params).json()
        seen += [e["id"] for e in page["events"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [e["id"] for e in everything]
    for bad in ({"limit": 0}, {"limit": 501}, {"before": 2**63}, {"since": "yesterday"}, {"action": "a\x00"}):
        response = client.get("/v1/audit", params=bad)
        assert response.status_code == 422 and error_code(response) == "invalid_request", bad


def test_only_admins_of_the_tenant_read_it(
    client: httpx.Client, base_url: str, runtime: Runtime, story: dict[str, Any]
) -> None:
    _, reader = KeyStore(runtime.store).create(runtime.default_tenant, "r", "reader")
    other = runtime.store.ensure_tenant("audit-other")
    _, stranger = KeyStore(runtime.store).create(other, "other admin", "admin")
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {reader}"}) as c:
        assert c.get("/v1/audit").status_code == 403
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {stranger}"}) as c:
        response = c.get("/v1/audit", params={"limit": 500})
        assert response.status_code == 200 and response.json()["events"] == []
        assert c.get("/v1/audit", params={"target": story["document"]}).json()["events"] == []


def test_the_service_role_may_append_and_read_but_never_change_it(
    runtime: Runtime, settings: Settings, database_url: str, story: dict[str, Any]
) -> None:
    if settings.database_owner_url is None:
        pytest.skip("DOCRAG_TEST_DATABASE_URL's server: its roles are its operator's")
    tenant = runtime.default_tenant
    event = AuditLog(runtime.store).record(tenant, "test.appended", actor=key_actor(tenant), target="t")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:  # the service's role
        conn.execute("SELECT set_config('docrag.tenant', %s, false)", (str(tenant),))
        assert conn.execute("SELECT count(*) FROM audit_log WHERE id = %s", (event,)).fetchone() == (1,)
        conn.execute(
            "INSERT INTO audit_log (tenant_id, actor, action) VALUES (%s, 'cli', 'test.raw')", (tenant,)
        )
        for statement in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            f"DELETE FROM audit_log WHERE id = {event}",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(statement)
    with psycopg.connect(database_url, autocommit=True) as owner:  # even the owner may not rewrite it
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = %s", (event,))
        assert owner.execute("SELECT actor FROM audit_log WHERE id = %s", (event,)).fetchone() == (
            key_actor(tenant),
        )


def test_maintenance_prunes_old_events_only_when_asked(runtime: Runtime, database_url: str) -> None:
    tenant = runtime.default_tenant
    recent = AuditLog(runtime.store).record(tenant, "test.recent", actor="cli")
    with psycopg.connect(database_url, autocommit=True) as owner:  # docrag maintenance's role
        old = owner.execute(
            "INSERT INTO audit_log (tenant_id, actor, action, at) VALUES (%s, 'cli', 'test.old',"
            " now() - interval '40 days') RETURNING id",
            (tenant,),
        ).fetchone()
        assert old is not None
        kept = {a.what: a for a in prune_history(owner, 30, 0, False)}  # audit days unset: 0
        assert "kept forever" in kept["prune audit events"].detail
        dry = {a.what: a for a in prune_history(owner, 30, 0, True, audit_days=30)}
        assert dry["prune audit events"].detail.startswith("1 ") and not dry["prune audit events"].done
        pruned = {a.what: a for a in prune_history(owner, 30, 0, False, audit_days=30)}
        assert pruned["prune audit events"].detail.startswith("1 ") and pruned["prune audit events"].done
        ids = {r[0] for r in owner.execute("SELECT id FROM audit_log WHERE id IN (%s, %s)", (old[0], recent))}
    assert ids == {recent}


def test_local_cli_changes_are_recorded_as_cli(
    client: httpx.Client, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCRAG_DATABASE_URL", settings.database_url or "")
    if settings.database_owner_url:
        monkeypatch.setenv("DOCRAG_DATABASE_OWNER_URL", settings.database_owner_url)
    monkeypatch.setenv("DOCRAG_INPROCESS_WORKER", "false")
    note = tmp_path / "note.md"
    note.write_text(f"# Note\n\nThe {CANARY} note from the command line.\n")

    def cli(*args: str) -> str:
        result = CliRunner().invoke(cli_app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    cli("collections", "create", "cli-made")
    cli("ingest", str(note), "-c", "cli-made", "--no-wait")
    document = client.get("/v1/collections/cli-made/documents").json()[0]["id"]
    cli("documents", "delete", document)
    cli("collections", "delete", "cli-made", "--yes")
    found = [(e["action"], e["target"]) for e in reversed(events(client, actor="cli", limit=500))]
    collection = next(t for a, t in found if a == "collection.created")
    assert found[-4:] == [
        ("collection.created", collection),
        ("document.uploaded", document),
        ("document.deleted", document),
        ("collection.deleted", collection),
    ]
    assert CANARY not in client.get("/v1/audit", params={"actor": "cli"}).text
