"""The export streams: its memory stays flat as the tenant grows (issue 21.3).

    python bench/export_stream.py                  # 2 tenants' sizes: 100 and 400 documents
    python bench/export_stream.py --documents 100 400 1600

For each size, a tenant of its own gets that many documents of ~100 KB of text (hex digests) (10 chunks each,
with vectors) and 50 answers per document, written with SQL into an embedded PostgreSQL in a
temporary folder; then ``store.export.export_zip`` is drained (as the HTTP route and the CLI
drain it, into a temporary file): once for its time, once more while tracemalloc records the
peak of Python memory (which slows it). Prints one JSON object per size: documents, rows, MB
of text, MB exported (the files' sizes before compression), MB of zip, seconds, exported MB/s,
and the peak (MB). A peak that stays level while the tenant grows shows nothing is held whole.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from uuid import UUID

import psycopg

from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.export import export_zip

_LOAD = """
WITH c AS (
    INSERT INTO collections (tenant_id, name, embedding_model, embedding_dim)
    VALUES (%(t)s, 'bench', %(model)s, 384) RETURNING id
), d AS (
    INSERT INTO documents (tenant_id, collection_id, title, mime, content_hash, size_bytes, text,
                           status, version, pending_version, chunk_count)
    SELECT %(t)s, c.id, 'document ' || i, 'text/plain', sha256(i::text::bytea), 100000,
           (SELECT string_agg(md5(i::text || '.' || g::text), ' ') FROM generate_series(1, 3000) AS g),
           'indexed', 1, NULL, 10
    FROM c, generate_series(1, %(n)s) AS i RETURNING id, collection_id, text
)
INSERT INTO chunks (tenant_id, collection_id, document_id, ord, start_offset, end_offset, content, body,
                    embedding)
SELECT %(t)s, d.collection_id, d.id, k, k * 10000, k * 10000 + 10000,
       substr(d.text, k * 10000 + 1, 10000), substr(d.text, k * 10000 + 1, 10000),
       array_fill(0.05::real, ARRAY[384])::vector
FROM d, generate_series(0, 9) AS k
"""
_ANSWERS = """
INSERT INTO answers (tenant_id, question, resolved_question, answer, answered, generator, collections)
SELECT %(t)s, 'What did ledger entry ' || i || ' record?', 'What did ledger entry ' || i || ' record?',
       'The ledger entry ' || i || ' recorded the spring season.', true, 'extractive', ARRAY['bench']
FROM generate_series(1, %(n)s * 50) AS i
"""


def drain(runtime: Runtime, tenant: UUID, *, traced: bool) -> tuple[float, int, int, int]:
    """Export into a temporary file: (seconds, zip bytes, bytes before compression, peak Python bytes)."""
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    zipped = peak = 0
    with tempfile.TemporaryFile() as out:
        for piece in export_zip(runtime.store, tenant):
            out.write(piece)
            zipped += len(piece)
        seconds = time.perf_counter() - t0
        if traced:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        out.seek(0)
        with zipfile.ZipFile(out) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    return seconds, zipped, unzipped, peak


def measure(runtime: Runtime, owner_url: str, documents: int) -> dict[str, float]:
    tenant = runtime.store.ensure_tenant(f"bench-{documents}")
    with psycopg.connect(owner_url) as conn:
        conn.execute(_LOAD, {"t": tenant, "n": documents, "model": runtime.embedder.model_id})
        conn.execute(_ANSWERS, {"t": tenant, "n": documents})
        row = conn.execute(
            "SELECT (SELECT sum(length(text)) FROM documents WHERE tenant_id = %(t)s),"
            " (SELECT count(*) FROM chunks WHERE tenant_id = %(t)s)"
            " + (SELECT count(*) FROM answers WHERE tenant_id = %(t)s)",
            {"t": tenant},
        ).fetchone()
    assert row is not None
    seconds, zipped, unzipped, _ = drain(runtime, tenant, traced=False)
    _, _, _, peak = drain(runtime, tenant, traced=True)
    return {
        "documents": documents,
        "rows": int(row[1]) + documents,
        "text_mb": round(int(row[0]) / 2**20, 1),
        "exported_mb": round(unzipped / 2**20, 1),
        "zip_mb": round(zipped / 2**20, 1),
        "seconds": round(seconds, 2),
        "exported_mb_per_s": round(unzipped / 2**20 / seconds, 1),
        "peak_python_mb": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--documents", type=int, nargs="+", default=[100, 400])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docrag-export-bench-") as folder:
        runtime = Runtime.open(
            Settings(data_dir=Path(folder), answer_cache_seconds=0, inprocess_worker=False)
        )
        try:
            assert runtime.embedded is not None
            owner_url = runtime.embedded.url("docrag")
            for n in args.documents:
                print(json.dumps(measure(runtime, owner_url, n)), flush=True)
        finally:
            runtime.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
