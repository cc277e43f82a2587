"""The embedded PostgreSQL keeps everything across a stop and a start."""

from __future__ import annotations

from pathlib import Path

import pytest

from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.settings import Settings


def test_restart_keeps_documents_keys_and_search(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    first = Runtime.open(settings)
    try:
        key = first.bootstrap_key
        assert key is not None
        coll = first.collection(first.default_tenant, create=True)
        doc, _ = first.ingest_now.ingest(
            coll, Upload(b"# Lighthouse\n\nThe lighthouse keeper is Ada.\n", "l.md")
        )
    finally:
        first.close()
    assert (tmp_path / "data" / "postgres" / "PG_VERSION").is_file()

    second = Runtime.open(settings)
    try:
        assert second.bootstrap_key is None  # the admin key is created once, not at every start
        principal = second.store.principal_for_key(key)
        assert principal is not None and principal.role == "admin"
        assert second.store.get_document(second.default_tenant, doc.id).title == "Lighthouse"
        hits = second.retriever.search(second.default_tenant, [coll.id], "lighthouse keeper", limit=3)
        assert hits and hits[0].document_id == doc.id
    finally:
        second.close()


def test_a_failed_open_closes_what_it_had_opened(tmp_path: Path) -> None:
    # The answer cache is built last but one: by then the embedded server, the pool, the models
    # and the identity keys are open, and each must be closed again, the server stopped.
    broken = Settings(data_dir=tmp_path / "data", database_url=None, redis_url="notredis://nowhere")
    with pytest.raises(ValueError):
        Runtime.open(broken)
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()  # the server stopped
    again = Runtime.open(Settings(data_dir=tmp_path / "data", database_url=None))
    again.close()
