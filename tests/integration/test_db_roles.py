"""Least privilege in the database (issue 22 point 5): migrations run as the owner of the
schema, the service as a role that is neither superuser, owner nor BYPASSRLS, for the embedded
server (made at first start, and an older data dir upgraded) and for an external one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from docrag.errors import Unavailable
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.migrate import migrate
from docrag.store.roles import APP_ROLE, OWNER_ROLE, open_database, privilege_problems, with_user
from docrag_stack import with_database as _with_database

DDL = [
    "CREATE TABLE intruder (id int)",
    "DROP TABLE chunks",
    "ALTER TABLE documents ADD COLUMN intruder text",
    "TRUNCATE api_keys",
    "CREATE INDEX intruder_idx ON documents (title)",
]


def role_of(url: str) -> tuple[str, bool, bool]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def table_owners(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return dict(rows)


def assert_least_privilege(service_url: str, owner: str) -> None:
    name, superuser, bypassrls = role_of(service_url)
    assert not superuser and not bypassrls
    owners = table_owners(service_url)
    assert {"chunks", "documents", "jobs", "answers", "schema_migrations"} <= owners.keys()
    assert set(owners.values()) == {owner}  # migrations ran as the owner, and own everything
    assert name != owner
    with psycopg.connect(service_url) as conn:
        assert privilege_problems(conn) == []
        for statement in DDL:
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)


def test_embedded_server_serves_as_a_role_that_owns_nothing(tmp_path: Path) -> None:
    rt = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=None))
    try:
        assert role_of(rt.store.url)[0] == APP_ROLE
        assert_least_privilege(rt.store.url, OWNER_ROLE)
        # The service still does its work: rows in, and a new dimension's index through the
        # owner's function (migration 0070), though it may not index a table itself.
        coll = rt.collection(rt.default_tenant, create=True)
        doc, _ = rt.ingest_now.ingest(coll, Upload(b"# Mill\n\nThe miller grinds rye on Tuesdays.\n", "m.md"))
        assert (
            rt.retriever.search(rt.default_tenant, [coll.id], "miller rye", limit=1)[0].document_id == doc.id
        )
        rt.store.create_collection(rt.default_tenant, "sixteen", "test-16", 16)
        with psycopg.connect(rt.store.url) as conn:
            found = conn.execute("SELECT to_regclass('chunks_embedding_16_idx')").fetchone()
        assert found is not None and found[0] is not None
    finally:
        rt.close()


def test_an_embedded_data_dir_from_before_roles_is_handed_to_the_owner(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = EmbeddedPostgres(data)
    superuser_url = old.start()
    try:
        with psycopg.connect(superuser_url) as conn:  # what DocRAG did before: all as the superuser
            migrate(conn)
            conn.execute("INSERT INTO tenants (name) VALUES ('from-before')")
            conn.commit()
        assert set(table_owners(superuser_url).values()) == {"postgres"}
    finally:
        old.stop()

    rt = Runtime.open(Settings(data_dir=data, database_url=None))
    try:
        assert_least_privilege(rt.store.url, OWNER_ROLE)
        with rt.store.connection(rt.store.ALL_TENANTS) as conn:
            names = [r["name"] for r in conn.execute("SELECT name FROM tenants ORDER BY name").fetchall()]
        assert "from-before" in names
    finally:
        rt.close()


@pytest.fixture
def external(admin_url: str) -> Iterator[tuple[str, str, str]]:
    """A database on the test server owned by a fresh owner role, with pgvector (made by the
    superuser, as an operator would), and a fresh login role for the service: (owner URL,
    service URL, owner role)."""
    if os.environ.get("DOCRAG_TEST_DATABASE_URL"):
        pytest.skip("needs a server whose roles log in without passwords (the embedded one)")
    tag = uuid.uuid4().hex[:8]
    owner, app, name = f"own_{tag}", f"app_{tag}", f"docrag_roles_{tag}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in (owner, app):
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
        )
    with psycopg.connect(_with_database(admin_url, name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
    base = _with_database(admin_url, name)
    yield with_user(base, owner), with_user(base, app), owner
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        for role in (app, owner):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def run_migrate(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    return subprocess.run(
        [sys.executable, "-m", "docrag.cli", "migrate"],
        cwd=cwd,
        env={**clean, "DOCRAG_DATA_DIR": str(cwd / "data"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_external_server_migrates_as_owner_and_serves_as_the_app_role(
    external: tuple[str, str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    owner_url, app_url, owner = external
    # The service's role alone can't apply the schema: migrations need the owner.
    with pytest.raises(Unavailable, match="DOCRAG_DATABASE_OWNER_URL"):
        open_database(Settings(database_url=app_url))

    done = run_migrate(tmp_path, DOCRAG_DATABASE_URL=app_url, DOCRAG_DATABASE_OWNER_URL=owner_url)
    assert done.returncode == 0, done.stderr
    assert "applied migrations" in done.stdout
    assert_least_privilege(app_url, owner)

    again = run_migrate(tmp_path, DOCRAG_DATABASE_URL=app_url, DOCRAG_DATABASE_OWNER_URL=owner_url)
    assert again.returncode == 0 and "schema up to date" in again.stdout, again.stderr

    # After `docrag migrate`, the API needs only its own URL, and nothing is privileged to warn of.
    with caplog.at_level(logging.WARNING, logger="docrag.store.roles"):
        rt = Runtime.open(Settings(database_url=app_url, pool_max_size=2))
    try:
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert rt.bootstrap_key is not None
        assert role_of(rt.store.url)[0] != owner
    finally:
        rt.close()


def test_two_urls_refuse_to_serve_as_a_privileged_role(external: tuple[str, str, str]) -> None:
    owner_url, _, _ = external
    with pytest.raises(Unavailable, match="owns"):
        open_database(Settings(database_url=owner_url, database_owner_url=owner_url))
    superuser_url = with_user(owner_url, "postgres")
    with pytest.raises(Unavailable, match="superuser"):
        open_database(Settings(database_url=superuser_url, database_owner_url=owner_url))
    with pytest.raises(Unavailable, match="without DOCRAG_DATABASE_URL"):
        open_database(Settings(database_owner_url=owner_url))


@pytest.mark.skipif(
    bool(os.environ.get("DOCRAG_TEST_DATABASE_URL")), reason="the embedded server's superuser"
)
def test_one_privileged_url_still_works_and_warns(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="docrag.store.roles"):
        database = open_database(Settings(database_url=database_url))
    assert database.url == database_url and database.embedded is None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("superuser" in m and "DOCRAG_DATABASE_OWNER_URL" in m for m in warned), warned


def test_docrag_migrate_on_the_embedded_server_migrates_as_the_owner(tmp_path: Path) -> None:
    done = run_migrate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "applied migrations" in done.stdout
    server = EmbeddedPostgres(tmp_path / "data")
    superuser_url = server.start()
    try:
        assert set(table_owners(superuser_url).values()) == {OWNER_ROLE}
        assert_least_privilege(with_user(superuser_url, APP_ROLE), OWNER_ROLE)
        with psycopg.connect(with_user(superuser_url, APP_ROLE)) as conn:  # the owner's grant reached it
            assert conn.execute(
                "SELECT has_function_privilege('docrag_ensure_embedding_index(integer)', 'EXECUTE')"
            ).fetchone() == (True,)
    finally:
        server.stop()
