"""Retention per collection (issue 21.4): set over HTTP by an admin, reported by a dry run
that deletes nothing, then purged: the due documents and answers are gone with everything
they left (the same completeness check as a delete: no response, table row or Redis key holds
the canary), while young rows and collections without a policy stay."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api_calls import ask, upload
from cli_runs import run_cli
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from docrag.store.roles import with_user
from erasure_checks import REDIS_URL, canary, redis_keys_holding, registry, rows_holding


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    owner = {"database_owner_url": database_url} if service_role else {}
    url = with_user(database_url, service_role) if service_role else database_url
    return Settings(database_url=url, pool_max_size=8, redis_url=REDIS_URL, answer_cache_seconds=600, **owner)


def age(database_url: str, table: str, column: str, row_id: str, days: int) -> None:
    """Make a row ``days`` old (as the owner: the service role may not rewrite history)."""
    with psycopg.connect(database_url) as conn:
        conn.execute(
            f"UPDATE {table} SET {column} = now() - make_interval(days => %s) WHERE id = %s", (days, row_id)
        )


def put_retention(client: httpx.Client, name: str, **policy: Any) -> httpx.Response:
    return client.put(f"/v1/collections/{name}/retention", json=policy)


def test_retention_is_set_by_admins_and_validated(
    client: httpx.Client, reader_key: str, base_url: str
) -> None:
    assert client.post("/v1/collections", json={"name": "policy"}).status_code == 201
    assert client.get("/v1/collections/policy/retention").json() == {
        "documents_days": None,
        "answers_days": None,
    }
    r = put_retention(client, "policy", documents_days=30, answers_days=90)
    assert r.status_code == 200 and r.json() == {"documents_days": 30, "answers_days": 90}
    assert client.get("/v1/collections/policy/retention").json() == {"documents_days": 30, "answers_days": 90}
    for bad in ({"documents_days": 0}, {"answers_days": 36501}, {"documents_days": "soon"}, {"days": 3}):
        r = put_retention(client, "policy", **bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", (bad, r.text)
    assert put_retention(client, "nowhere", documents_days=3).status_code == 404
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {reader_key}"}) as reader:
        assert reader.get("/v1/collections/policy/retention").status_code == 200
        r = reader.put("/v1/collections/policy/retention", json={"documents_days": 1})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert client.get("/v1/collections/policy/retention").json()["documents_days"] == 30


@pytest.fixture(scope="module")
def reader_key(runtime: Runtime) -> str:
    key = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "retention reader", key, "reader")
    return key


def test_a_dry_run_reports_and_a_purge_removes_what_retention_makes_due(
    client: httpx.Client, runtime: Runtime, database_url: str
) -> None:
    old_secret, young_secret, kept_secret = canary(), canary(), canary()
    for name in ("expiring", "forever"):
        assert client.post("/v1/collections", json={"name": name}).status_code == 201
    assert put_retention(client, "expiring", documents_days=30, answers_days=90).status_code == 200
    old = upload(client, "expiring", "old.md", registry("Aino Sepp", old_secret)).json()
    young = upload(client, "expiring", "young.md", registry("Bror Lind", young_secret)).json()
    kept = upload(client, "forever", "kept.md", registry("Cato Ruud", kept_secret)).json()
    age(database_url, "documents", "updated_at", old["id"], 31)
    age(database_url, "documents", "updated_at", kept["id"], 400)  # no policy: kept whatever its age

    about_old = ask(client, "What is the national identity number of Aino Sepp?", "expiring")
    assert old_secret in about_old["answer"], about_old
    client.post(
        f"/v1/answers/{about_old['answer_id']}/feedback", json={"rating": "up", "comment": old_secret}
    )
    conversation = client.post("/v1/conversations", json={"title": "stale"}).json()["id"]
    stale = ask(client, "When does the harbour office open?", "expiring", conversation_id=conversation)
    recent = ask(client, "What is the national identity number of Bror Lind?", "expiring")
    forever = ask(client, "What is the national identity number of Cato Ruud?", "forever")
    age(database_url, "answers", "created_at", stale["answer_id"], 91)
    age(database_url, "answers", "created_at", forever["answer_id"], 400)

    dry = runtime.apply_retention(dry_run=True)
    assert [d.document_id for d in dry.documents] == [uuid.UUID(old["id"])]
    assert dry.answers == 1 and dry.conversations == 0
    assert rows_holding(database_url, old_secret)  # a dry run deletes nothing
    assert client.get(f"/v1/documents/{old['id']}").status_code == 200

    done = runtime.apply_retention()
    assert [str(d.document_id) for d in done.documents] == [old["id"]]
    assert (done.answers, done.conversations) == (1, 1)

    assert client.get(f"/v1/documents/{old['id']}").status_code == 404
    assert client.get(f"/v1/answers/{stale['answer_id']}").status_code == 404
    assert client.get(f"/v1/conversations/{conversation}").status_code == 404
    emptied = client.get(f"/v1/answers/{about_old['answer_id']}").json()  # young, but its source went
    assert emptied["source_deleted"] is True
    assert rows_holding(database_url, old_secret) == {}
    assert redis_keys_holding(old_secret) == []
    # What no policy makes due stays, old or not.
    assert client.get(f"/v1/documents/{young['id']}").status_code == 200
    assert client.get(f"/v1/documents/{kept['id']}").status_code == 200
    assert young_secret in client.get(f"/v1/answers/{recent['answer_id']}").json()["answer"]
    assert kept_secret in client.get(f"/v1/answers/{forever['answer_id']}").json()["answer"]

    again = runtime.apply_retention()
    assert (again.documents, again.answers, again.conversations) == ((), 0, 0)


def test_docrag_retention_command_reports_then_purges(
    client: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    secret = canary()
    assert client.post("/v1/collections", json={"name": "by-cli"}).status_code == 201
    assert put_retention(client, "by-cli", documents_days=7).status_code == 200
    doc = upload(client, "by-cli", "cli.md", registry("Dag Vik", secret)).json()
    age(database_url, "documents", "updated_at", doc["id"], 8)

    dry = run_cli(database_url, tmp_path, "retention", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"due: document {doc['id']}" in dry.stdout and "1 documents and 0 answers due" in dry.stdout
    assert client.get(f"/v1/documents/{doc['id']}").status_code == 200

    done = run_cli(database_url, tmp_path, "retention")
    assert done.returncode == 0, done.stderr
    assert f"deleted: document {doc['id']}" in done.stdout
    assert client.get(f"/v1/documents/{doc['id']}").status_code == 404
    assert rows_holding(database_url, secret) == {}
