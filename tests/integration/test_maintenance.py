"""`docrag maintenance` against the real PostgreSQL: an invalid index is rebuilt (and a failed
concurrent build's leftover dropped), orphaned uploads and old job history go, live ones stay,
and a dry run changes nothing."""

from __future__ import annotations

from uuid import UUID

import pytest
from typer.testing import CliRunner

from docrag.cli.main import app
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.store.maintenance import run_maintenance
from queue_helpers import sql


@pytest.fixture(scope="module")
def documents(runtime: Runtime) -> list[UUID]:
    collection = runtime.collection(runtime.default_tenant, "upkeep", create=True)
    texts = ["Owls hunt at night.", "Crows remember faces.", "Gulls follow ships."]
    results = runtime.ingest_now.ingest_many(
        collection, [Upload(t.encode(), f"{i}.txt") for i, t in enumerate(texts)]
    )
    ids = [r.document.id for r in results if r.document is not None]
    assert len(ids) == 3
    return ids


def _valid(database_url: str, index: str) -> bool | None:
    rows = sql(
        database_url,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
        index,
    )
    return rows[0][0] if rows else None


def _stage(database_url: str, runtime: Runtime, documents: list[UUID]) -> None:
    """An orphaned upload (its job is done), a live one (queued job), old and recent history,
    an index made invalid, and a failed concurrent build's leftover."""
    orphan, live, recent = documents
    tenant = runtime.default_tenant
    for doc, state, age in (
        (orphan, "done", "90 days"),
        (live, "queued", "0 days"),
        (recent, "done", "1 day"),
    ):
        sql(
            database_url,
            "INSERT INTO jobs (tenant_id, document_id, state, updated_at)"
            " VALUES (%s, %s, %s, now() - %s::interval) ON CONFLICT (document_id)"
            " DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
            tenant,
            doc,
            state,
            age,
        )
    for doc in (orphan, live):
        sql(
            database_url,
            "INSERT INTO uploads (tenant_id, document_id, data) VALUES (%s, %s, 'bytes')"
            " ON CONFLICT DO NOTHING",
            tenant,
            doc,
        )
    sql(
        database_url,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'chunks_document_idx'::regclass",
    )
    sql(database_url, "CREATE INDEX IF NOT EXISTS chunks_ord_idx_ccnew ON chunks (ord)")
    sql(
        database_url,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'chunks_ord_idx_ccnew'::regclass",
    )


def test_dry_run_changes_nothing(database_url: str, runtime: Runtime, documents: list[UUID]) -> None:
    _stage(database_url, runtime, documents)
    actions = run_maintenance(database_url, job_history_days=30, conversation_history_days=0, dry_run=True)
    assert not any(a.done for a in actions)
    by_what = {a.what: a.detail for a in actions}
    assert by_what["orphaned stored files"].startswith("1 ")
    assert by_what["prune jobs"].startswith("1 ")
    assert "reindex chunks_document_idx" in by_what and "drop chunks_ord_idx_ccnew" in by_what
    assert _valid(database_url, "chunks_document_idx") is False
    assert sql(database_url, "SELECT count(*) FROM uploads") == [(2,)]


def test_maintenance_repairs_indexes_and_prunes(
    database_url: str, runtime: Runtime, documents: list[UUID]
) -> None:
    _stage(database_url, runtime, documents)
    _orphan, live, recent = documents
    actions = run_maintenance(database_url, job_history_days=30, conversation_history_days=0)
    done = {a.what: a for a in actions}
    assert done["reindex chunks_document_idx"].done
    assert _valid(database_url, "chunks_document_idx") is True
    assert done["drop chunks_ord_idx_ccnew"].done
    assert _valid(database_url, "chunks_ord_idx_ccnew") is None
    assert sql(database_url, "SELECT document_id FROM uploads") == [(live,)]
    assert sorted(sql(database_url, "SELECT document_id, state FROM jobs")) == sorted(
        [(live, "queued"), (recent, "done")]
    )
    assert all(done[f"vacuum analyze {t}"].done for t in ("chunks", "documents", "jobs"))
    assert sql(
        database_url, "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'chunks'"
    ) == [(True,)]


def test_cli_prints_what_it_did(database_url: str, runtime: Runtime, documents: list[UUID]) -> None:
    sql(
        database_url,
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'chunks_document_idx'::regclass",
    )
    result = CliRunner().invoke(
        app, ["maintenance"], env={"DOCRAG_DATABASE_URL": database_url, "DOCRAG_JOB_HISTORY_DAYS": "0"}
    )
    assert result.exit_code == 0, result.output
    assert "reindex chunks_document_idx" in result.output and "done" in result.output
    assert "prune jobs" in result.output and "kept forever" in result.output
    assert _valid(database_url, "chunks_document_idx") is True
