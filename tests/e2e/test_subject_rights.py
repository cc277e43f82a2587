"""Subject rights (issue 21.3): canaries planted for tenants A and B (in a document's text, a
question, a feedback comment, a conversation title) are all in A's export and none of B's;
after A's erasure no table (enumerated from the catalog, read as the owner past row security),
no Redis key, no log line of the server and no other process's memory holds one of A's, while
B keeps its data and its answers. One principal's data is exported and erased on its own."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import signal
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from api_calls import upload
from cli_runs import run_cli
from docrag.observability.logs import formatter
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from docrag.store.roles import with_user
from docrag.store.subject import ActorErasure, tenant_tables
from erasure_checks import (
    REDIS_URL,
    canary,
    redis_keys_holding,
    registry,
    rows_holding,
)


@pytest.fixture(scope="module")
def server_log() -> Iterator[io.StringIO]:
    """Every log record of this process (the test server's too), from DEBUG up, as JSON lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("json"))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield out
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None, server_log: io.StringIO) -> Settings:
    """The least-privilege runtime with its answer cache in the real Redis (logs captured first)."""
    owner = {"database_owner_url": database_url} if service_role else {}
    url = with_user(database_url, service_role) if service_role else database_url
    return Settings(database_url=url, pool_max_size=8, redis_url=REDIS_URL, answer_cache_seconds=600, **owner)


@dataclass
class Tenant:
    id: uuid.UUID
    admin: httpx.Client
    reader: httpx.Client
    reader_key_id: uuid.UUID
    canaries: dict[str, str]
    answers: list[dict[str, Any]]


def _client(base_url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def ask(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/ask", json={"question": question, "collections": ["records"], **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _pending_original(runtime: Runtime, database_url: str, tenant_id: uuid.UUID, secret: str) -> None:
    """The bytes of a replacement upload still waiting for its worker, encrypted as uploads are
    (as the owner: no job is queued for it, so no worker takes it while the test runs)."""
    plain = f"# Replacement\n\nThe new number is {secret}.\n".encode()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        (doc,) = conn.execute("SELECT id FROM documents WHERE tenant_id = %s", (tenant_id,)).fetchall()
        sealed = runtime.jobs.sealer.seal(conn, tenant_id, doc["id"], plain)
        assert secret.encode() not in sealed.data
        conn.execute(
            "INSERT INTO uploads (tenant_id, document_id, data, key_version, filename)"
            " VALUES (%s, %s, %s, %s, 'replacement.md')",
            (tenant_id, doc["id"], sealed.data, sealed.key_version),
        )


def _plant(runtime: Runtime, base_url: str, database_url: str, name: str, person: str) -> Tenant:
    """A tenant with an admin and a reader key, a document, a conversation, answers and feedback,
    each holding a canary of its own."""
    tenant_id = runtime.store.ensure_tenant(name)
    admin_key, reader_key = new_api_key(), new_api_key()
    runtime.store.add_api_key(tenant_id, "admin", admin_key, "admin")
    reader_id = runtime.store.add_api_key(tenant_id, "reader", reader_key, "reader")
    admin, reader = _client(base_url, admin_key), _client(base_url, reader_key)
    kinds = ("document", "original", "question", "comment", "title", "reader_question", "reader_title")
    c = {k: canary() for k in kinds}
    assert admin.post("/v1/collections", json={"name": "records"}).status_code == 201
    assert upload(admin, "records", "registry.md", registry(person, c["document"])).status_code == 201
    _pending_original(runtime, database_url, tenant_id, c["original"])
    about = f"What is the national identity number of {person}? (case {c['question']})"
    first = ask(admin, about)
    assert first["answered"] and c["document"] in first["answer"], first
    assert ask(admin, about)["answer"] == first["answer"]  # now cached (Redis)
    fb = admin.post(
        f"/v1/answers/{first['answer_id']}/feedback", json={"rating": "up", "comment": f"ok {c['comment']}"}
    )
    assert fb.status_code == 201, fb.text
    conversation = admin.post("/v1/conversations", json={"title": f"file {c['title']}"}).json()["id"]
    turn = ask(admin, "When does the harbour office open?", conversation_id=conversation)
    mine = reader.post("/v1/conversations", json={"title": f"mine {c['reader_title']}"}).json()["id"]
    own = ask(reader, f"Where did {person} register? (ticket {c['reader_question']})", conversation_id=mine)
    assert reader.post(f"/v1/answers/{own['answer_id']}/feedback", json={"rating": "down"}).status_code == 201
    return Tenant(tenant_id, admin, reader, reader_id, c, [first, turn, own])


@pytest.fixture(scope="module")
def tenants(runtime: Runtime, base_url: str, database_url: str) -> Iterator[dict[str, Tenant]]:
    planted = {
        "A": _plant(runtime, base_url, database_url, "alpha", "Aino Sepp"),
        "B": _plant(runtime, base_url, database_url, "beta", "Bror Lind"),
    }
    yield planted
    for t in planted.values():
        t.admin.close()
        t.reader.close()


def holding(database_url: str, secret: str) -> dict[str, int]:
    """Tables with rows holding ``secret`` as text, or as bytes (a bytea column reads as hex)."""
    return rows_holding(database_url, secret) | rows_holding(database_url, secret.encode().hex())


def zip_texts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def check_manifest(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest names every other file with its true size and SHA-256, and counts rows."""
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert meta["bytes"] == len(files[name]) and meta["sha256"] == hashlib.sha256(files[name]).hexdigest()
        if name.endswith(".json"):
            rows = json.loads(files[name])
            assert isinstance(rows, list) and meta["rows"] == len(rows), name
    for section, n in manifest["counts"].items():
        assert len(json.loads(files[f"{section}.json"])) == n
    return dict(manifest)


def test_an_export_holds_every_canary_of_its_tenant_and_none_of_another(tenants: dict[str, Tenant]) -> None:
    a, b = tenants["A"], tenants["B"]
    r = a.admin.get("/v1/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert r.headers.get("transfer-encoding") == "chunked"  # streamed, not sized in advance
    files = zip_texts(r.content)
    manifest = check_manifest(files)
    assert manifest["tenant_id"] == str(a.id) and manifest["actor"] is None
    assert (
        manifest["counts"]["documents"] == 1 and manifest["counts"]["answers"] == 4
    )  # the cached ask is recorded too
    everything = b"\n".join(files.values())
    for where, secret in a.canaries.items():
        assert secret.encode() in everything, where
    for where, secret in b.canaries.items():
        assert secret.encode() not in everything, where
    assert str(b.id).encode() not in everything
    (doc,) = json.loads(files["documents.json"])
    assert a.canaries["document"].encode() in files[f"documents/{doc['id']}/text.txt"]
    assert json.loads(files[f"documents/{doc['id']}/chunks.json"])
    assert doc["original"] is True
    assert a.canaries["original"].encode() in files[f"documents/{doc['id']}/original"]
    keys = json.loads(files["api_keys.json"])
    assert {k["role"] for k in keys} == {"admin", "reader"} and all("key_hash" not in k for k in keys)


def test_an_actor_export_holds_only_what_that_principal_created(tenants: dict[str, Tenant]) -> None:
    a = tenants["A"]
    r = a.admin.get("/v1/export", params={"actor": str(a.reader_key_id)})
    assert r.status_code == 200, r.text
    files = zip_texts(r.content)
    manifest = check_manifest(files)
    assert manifest["actor"] == str(a.reader_key_id)
    assert manifest["counts"] == {
        "api_keys": 1, "conversations": 1, "answers": 1, "feedback": 1, "users": 0, "sessions": 0, "audit": 0
    }  # fmt: skip
    everything = b"\n".join(files.values())
    for mine in ("reader_question", "reader_title"):
        assert a.canaries[mine].encode() in everything
    for theirs in ("document", "original", "question", "comment", "title"):
        assert a.canaries[theirs].encode() not in everything, theirs
    (answer,) = json.loads(files["answers.json"])
    assert answer["created_by"] == str(a.reader_key_id)


def test_only_a_tenants_admin_exports_or_erases_it(tenants: dict[str, Tenant]) -> None:
    a, b = tenants["A"], tenants["B"]
    assert a.reader.get("/v1/export").status_code == 403
    r = a.reader.delete(f"/v1/tenants/{a.id}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    # Another tenant's id is answered as if it did not exist, and nothing of it goes.
    r = b.admin.delete(f"/v1/tenants/{a.id}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "tenant_not_found"
    assert b.admin.delete(f"/v1/tenants/{uuid.uuid4()}").status_code == 404
    assert a.admin.delete("/v1/tenants/not-a-uuid").status_code == 422
    assert a.admin.get("/v1/export", params={"actor": "nobody"}).status_code == 422
    # Naming another tenant's principal exports nothing of it.
    stolen = b.admin.get("/v1/export", params={"actor": str(a.reader_key_id)})
    assert stolen.status_code == 200
    files = zip_texts(stolen.content)
    assert check_manifest(files)["counts"] == {
        "api_keys": 0, "conversations": 0, "answers": 0, "feedback": 0, "users": 0, "sessions": 0, "audit": 0
    }  # fmt: skip
    assert not any(secret.encode() in data for data in files.values() for secret in a.canaries.values())
    assert a.admin.get("/v1/collections").status_code == 200


def test_an_erased_tenant_leaves_no_trace_and_the_other_keeps_everything(
    tenants: dict[str, Tenant], runtime: Runtime, database_url: str, server_log: io.StringIO
) -> None:
    from docrag.answering.cached import CachingAnswerer
    from docrag.cache.tagged import MemoryCache
    from runtimes import second_runtime

    a, b = tenants["A"], tenants["B"]
    question = f"What is the national identity number of Aino Sepp? (case {a.canaries['question']})"
    for where, secret in a.canaries.items():
        if where == "original":  # encrypted at rest (store/crypto.py): the export decrypts it
            assert holding(database_url, secret) == {}
            continue
        assert holding(database_url, secret), f"precondition: the scan finds the {where} canary"
    assert redis_keys_holding(a.canaries["document"]), "precondition: Redis holds A's cached answer"
    with contextmanager(second_runtime)(database_url) as other:  # another process: memory cache
        records = other.collection(a.id, "records")
        answerer = other.answerer
        assert isinstance(answerer, CachingAnswerer) and isinstance(answerer.cache, MemoryCache)
        assert a.canaries["document"] in answerer.ask(a.id, [records.id], question).text
        assert (a.id, records.id) in other.lexical.held()

        r = a.admin.delete(f"/v1/tenants/{a.id}")
        assert r.status_code == 200, r.text
        assert r.json()["rows"]["documents"] == 1 and r.json()["rows"]["answers"] == 4

        assert other.forget_gone() >= 1  # its sweep (the server runs one every 30 seconds)
        assert (a.id, records.id) not in other.lexical.held()
        assert str(records.id) not in answerer.cache.tags() and len(answerer.cache) == 0

    for where, secret in a.canaries.items():
        assert holding(database_url, secret) == {}, where
        assert redis_keys_holding(secret) == [], where
    # Not even the tenant's id, in any table but the audit log, which keeps what happened: the
    # erasure itself among it, with counts and ids only.
    assert set(rows_holding(database_url, str(a.id))) == {"public.audit_log"}
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        events = conn.execute(
            "SELECT action, target, detail::text AS detail FROM audit_log WHERE tenant_id = %s ORDER BY id",
            (a.id,),
        ).fetchall()
    erased = [e for e in events if e["action"] == "tenant.erased"]
    assert len(erased) == 1 and erased[0]["target"] == str(a.id), events
    assert any(e["action"] == "data.exported" for e in events), events
    assert a.admin.get("/v1/collections").status_code == 401  # its keys went with it

    # B keeps every row, and is answered (from its documents, not a stale cache).
    for where, secret in b.canaries.items():
        assert where == "original" or holding(database_url, secret), where
    again = ask(b.admin, "What is the national identity number of Bror Lind?")
    assert b.canaries["document"] in again["answer"]
    assert b.reader.get(f"/v1/answers/{b.answers[2]['answer_id']}").status_code == 200

    # The server logged requests all along, never their content.
    log = server_log.getvalue()
    assert "/v1/ask" in log or "v1/ask" in log, "precondition: the access log was captured"
    for secret in [*a.canaries.values(), *b.canaries.values()]:
        assert secret not in log


def test_erasing_a_principal_removes_what_it_created_and_nothing_else(
    tenants: dict[str, Tenant], runtime: Runtime, database_url: str
) -> None:
    b = tenants["B"]
    mine = [b.canaries["reader_question"], b.canaries["reader_title"]]
    assert all(rows_holding(database_url, s) for s in mine)
    recorded: list[tuple[int, int, int]] = []

    def record(conn: psycopg.Connection[Any], done: ActorErasure) -> None:  # the audit log's hook
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        recorded.append((done.conversations, done.answers, done.feedback))

    erased = runtime.erase_actor(b.id, b.reader_key_id, on_erased=record)
    assert recorded == [(erased.conversations, erased.answers, erased.feedback)] == [(1, 1, 1)]
    for secret in mine:
        assert rows_holding(database_url, secret) == {}
        assert redis_keys_holding(secret) == []
    for theirs in ("document", "question", "comment", "title"):
        assert rows_holding(database_url, b.canaries[theirs]), theirs
    assert b.reader.get(f"/v1/answers/{b.answers[2]['answer_id']}").status_code == 404
    assert b.admin.get(f"/v1/answers/{b.answers[0]['answer_id']}").status_code == 200


def test_erasure_sweeps_a_table_no_cascade_reaches(
    runtime: Runtime, database_url: str, settings: Settings
) -> None:
    """A table a later migration adds with a tenant_id but no foreign key is found in the catalog."""
    tenant = runtime.store.ensure_tenant("gamma")
    secret = canary()
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute("CREATE TABLE later_notes (tenant_id uuid NOT NULL, note text NOT NULL)")
        owner.execute("ALTER TABLE later_notes ENABLE ROW LEVEL SECURITY")
        owner.execute(
            "CREATE POLICY tenant_rows ON later_notes USING ((SELECT docrag_all_tenants())"
            " OR tenant_id = (SELECT docrag_tenant()))"
        )
        role = psycopg.conninfo.conninfo_to_dict(settings.database_url or "").get("user")
        if role:
            owner.execute(f'GRANT SELECT, INSERT, DELETE ON later_notes TO "{role}"')
        owner.execute("INSERT INTO later_notes VALUES (%s, %s), (%s, 'kept')", (tenant, secret, uuid.uuid4()))
    try:
        with runtime.store.connection(tenant) as conn:
            assert "later_notes" in tenant_tables(conn)
        seen: list[dict[str, int]] = []
        erased = runtime.erase_tenant(tenant, on_erased=lambda conn, done: seen.append(done.rows))
        assert erased.rows["later_notes"] == 1 and seen == [erased.rows]
        assert rows_holding(database_url, secret) == {}
        assert rows_holding(database_url, "kept")  # another tenant's row stays
    finally:
        with psycopg.connect(database_url, autocommit=True) as owner:
            owner.execute("DROP TABLE later_notes")


def test_the_cli_exports_a_tenant_and_erases_it_only_when_told_yes(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    tenant = runtime.store.ensure_tenant("delta")
    conversation = runtime.answers.create_conversation(tenant, f"cli {canary()}")
    target = tmp_path / "delta.zip"
    done = run_cli(database_url, tmp_path, "export", "--tenant", "delta", "--to", str(target))
    assert done.returncode == 0, done.stderr
    files = zip_texts(target.read_bytes())
    (only,) = json.loads(files["conversations.json"])
    assert only["id"] == str(conversation.id) and only["title"] == conversation.title
    refused = run_cli(database_url, tmp_path, "tenants", "delete", "delta")
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert runtime.answers.conversation(tenant, conversation.id).id == conversation.id
    erased = run_cli(database_url, tmp_path, "tenants", "delete", "delta", "--yes")
    assert erased.returncode == 0, erased.stderr
    # Only the audit log keeps the tenant's id: the erasure, by the CLI.
    assert rows_holding(database_url, str(tenant)) == {"public.audit_log": 1}
    with psycopg.connect(database_url) as conn:
        events = conn.execute(
            "SELECT actor, action FROM audit_log WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    assert events == [("cli", "tenant.erased")]
    missing = run_cli(database_url, tmp_path, "tenants", "delete", "delta", "--yes")
    assert missing.returncode == 4 and "tenant_not_found" in missing.stderr


def test_a_tenant_erased_while_redis_is_down_leaves_redis_once_it_answers(
    runtime: Runtime,
    database_url: str,
    paused_redis: tuple[subprocess.Popen[bytes], str],
) -> None:
    """The purge Redis could not take during the erasure is owed, and runs before anything else."""
    from docrag.answering.cached import CachingAnswerer
    from docrag.cache.tagged import RedisCache
    from docrag.ingest.pipeline import Upload
    from runtimes import second_runtime

    proc, url = paused_redis
    secret = canary()
    tenant = runtime.store.ensure_tenant("epsilon")
    with contextmanager(second_runtime)(database_url, redis_url=url, answer_cache_seconds=600) as other:
        answerer = other.answerer
        assert isinstance(answerer, CachingAnswerer) and isinstance(answerer.cache, RedisCache)
        answerer.cache.retry_after_seconds = 0.0
        coll = other.collection(tenant, "records", create=True)
        other.ingest_now.ingest(coll, Upload(registry("Eir Holm", secret), "eir.md"))
        assert (
            secret
            in answerer.ask(tenant, [coll.id], "What is the national identity number of Eir Holm?").text
        )
        direct = redis.Redis.from_url(url)
        try:
            assert any(secret.encode() in (direct.get(k) or b"") for k in direct.scan_iter("*:e:*"))
            proc.send_signal(signal.SIGSTOP)  # Redis stops answering: calls time out
            try:
                other.erase_tenant(tenant)
                assert answerer.cache.pending_purges == {str(coll.id)}
            finally:
                proc.send_signal(signal.SIGCONT)
            assert holding(database_url, secret) == {}
            answerer.cache.get("any key")  # the first call after the outage runs the owed purge
            assert answerer.cache.pending_purges == set()
            assert not any(secret.encode() in (direct.get(k) or b"") for k in direct.scan_iter("*:e:*"))
        finally:
            direct.close()
