"""Row-level security as the tenant backstop (issue 14 point 5, migration 0071): raw SQL as the
service's role sees no row without a tenant, and only that tenant's rows with one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from docrag.identity.accounts import Accounts
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.store.audit import AuditLog, key_actor
from docrag.store.postgres import Store
from docrag.store.roles import with_user
from docrag.store.tenancy import collection_scope


def tenant_tables(url: str) -> list[str]:
    """Every table of the schema with a tenant_id column (a new one is covered without a list)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name"
        ).fetchall()
    return [r[0] for r in rows]


def fill(rt: Runtime, database_url: str, name: str) -> UUID:
    """A tenant with a row in every tenant table: key, collection, indexed document and chunks,
    a queued upload and its job and data key, a kept original, a conversation, an answer and
    feedback on it, an audit event, a user with recovery codes and a session with its refresh token."""
    tenant = rt.store.ensure_tenant(name)
    key_id = rt.store.add_api_key(tenant, f"{name} key", f"drg_{name}_row_security", "admin")
    coll = rt.collection(tenant, "rls", create=True)
    rt.ingest_now.ingest(coll, Upload(f"# {name}\n\nThe {name} ledger balances.\n".encode(), f"{name}.md"))
    rt.jobs.enqueue(
        coll,
        data=f"queued for {name}".encode(),
        digest=name.encode().ljust(32, b"_"),
        mime="text/plain",
        title=f"{name} queued",
        filename=f"{name}.txt",
        explicit_title=None,
    )
    conversation = rt.answers.create_conversation(tenant, f"{name} chat")
    AuditLog(rt.store).record(tenant, "key.created", actor=key_actor(key_id), target=str(key_id))
    # A user with MFA pending (recovery codes) and a session (with its refresh token).
    user = Accounts(rt.identity).create(tenant, f"{name}@example.com", "a long enough password", "reader")
    rt.identity.users.begin_totp(tenant, user.id, "JBSWY3DPEHPK3PXP", [name.encode().ljust(32, b"_")])
    rt.identity.start_session(tenant, user.id, mfa=False, user_agent=None, address=None)
    with psycopg.connect(database_url) as conn:  # the fixture's superuser: past row security
        answer = conn.execute(
            "INSERT INTO answers (tenant_id, conversation_id, turn, question, resolved_question, answer,"
            " answered, generator) VALUES (%s, %s, 1, 'q', 'q', 'a', true, 'test') RETURNING id",
            (tenant, conversation.id),
        ).fetchone()
        assert answer is not None
        conn.execute(
            "INSERT INTO feedback (tenant_id, answer_id, key_id, rating) VALUES (%s, %s, %s, 'up')",
            (tenant, answer[0], key_id),
        )
        # An original kept encrypted (a PII collection's, migration 0110), as its worker keeps it.
        conn.execute(
            "INSERT INTO originals (tenant_id, document_id, mime, data, key_version)"
            " SELECT tenant_id, document_id, 'text/plain', data, key_version FROM uploads"
            " WHERE tenant_id = %s",
            (tenant,),
        )
    return tenant


@pytest.fixture(scope="module")
def app_url(database_url: str, service_role: str | None) -> str:
    if service_role is None:
        pytest.skip("DOCRAG_TEST_DATABASE_URL's server: its roles are its operator's")
    return with_user(database_url, service_role)


def counts(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, tuple[int, int]]:
    """Per table: (rows seen, distinct tenants among them)."""
    found = {}
    for table in tables:
        row = conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT tenant_id) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        assert row is not None
        found[table] = (row[0], row[1])
    return found


def test_the_service_role_sees_only_the_tenant_it_names(
    runtime: Runtime, database_url: str, app_url: str
) -> None:
    tables = tenant_tables(database_url)
    assert {"api_keys", "chunks", "documents", "jobs", "uploads", "answers", "feedback"} <= set(tables)
    a = fill(runtime, database_url, "alpha")
    b = fill(runtime, database_url, "beta")
    with psycopg.connect(database_url) as conn:
        everything = counts(conn, tables)
        secured = conn.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relname = ANY(%s)", (tables,)
        ).fetchall()
    assert {r[0] for r in secured} == set(tables)  # every tenant table has row security on
    assert all(n >= 1 and tenants >= 2 for n, tenants in everything.values()), everything

    with psycopg.connect(app_url, autocommit=True) as conn:
        # No tenant named: nothing, whatever the statement asks for.
        assert counts(conn, tables) == {t: (0, 0) for t in tables}
        assert conn.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
        assert conn.execute("UPDATE documents SET title = 'x' RETURNING id").fetchall() == []

        conn.execute("SELECT set_config('docrag.tenant', %s, false)", (str(a),))
        seen = counts(conn, tables)
        assert all(n >= 1 and tenants == 1 for n, tenants in seen.values()), seen
        assert all(seen[t][0] < everything[t][0] for t in tables)
        for table in tables:
            owners = conn.execute(
                sql.SQL("SELECT DISTINCT tenant_id FROM {}").format(sql.Identifier(table))
            ).fetchall()
            assert owners == [(a,)], table
        assert conn.execute("SELECT id FROM tenants").fetchall() == [(a,)]
        # Nor can it write another tenant's rows, or into another tenant.
        assert conn.execute("DELETE FROM documents WHERE tenant_id = %s RETURNING id", (b,)).fetchall() == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO conversations (tenant_id) VALUES (%s)", (b,))

        conn.execute("SELECT set_config('docrag.tenant', 'not-a-tenant', false)")
        assert counts(conn, tables) == {t: (0, 0) for t in tables}


def test_the_store_names_the_tenant_and_search_keeps_its_index(runtime: Runtime) -> None:
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "rls-search", create=True)
    doc, _ = runtime.ingest_now.ingest(coll, Upload(b"# Pier\n\nThe pier lamp is lit at dusk.\n", "p.md"))
    assert runtime.retriever.search(tenant, [coll.id], "pier lamp", limit=1)[0].document_id == doc.id
    with runtime.store.connection() as conn:  # a checkout that names no tenant sees none of it
        assert conn.execute("SELECT count(*) AS n FROM documents").fetchone() == {"n": 0}
    with runtime.store.connection(tenant) as conn:
        assert conn.execute("SELECT count(*) AS n FROM documents WHERE id = %s", (doc.id,)).fetchone() == {
            "n": 1
        }


def test_one_pooled_connection_takes_each_checkouts_tenant_and_scope(runtime: Runtime, app_url: str) -> None:
    """The store sends a checkout's tenant only when the pooled session holds another (what it
    set last): checkouts of other tenants, of none, and under a key's collection scope, in turns
    on the one connection of a pool of one, each see their own rows; a search's read checkout
    (autocommit) hands the connection back as writers expect it."""
    a, b = runtime.store.ensure_tenant("rls-pool-a"), runtime.store.ensure_tenant("rls-pool-b")
    mine = [runtime.collection(a, name, create=True).id for name in ("one", "two")]
    theirs = runtime.collection(b, "one", create=True).id
    store = Store(app_url, min_size=1, max_size=1)

    def seen(tenant: object, *, read: bool = False) -> set[UUID]:
        with store.connection(tenant, read=read) as conn:
            assert conn.autocommit == read
            return {r["id"] for r in conn.execute("SELECT id FROM collections").fetchall()}

    try:
        for _ in range(2):
            assert seen(a) == set(mine)
            assert seen(a, read=True) == set(mine)
            assert seen(b) == {theirs}
            assert seen(b, read=True) == {theirs}
            assert seen(None) == set()
            token = collection_scope.set(frozenset(mine[:1]))
            try:
                assert seen(a, read=True) == set(mine[:1])
            finally:
                collection_scope.reset(token)
            assert seen(a, read=True) == set(mine)
    finally:
        store.close()
