"""A fresh API process builds the BM25 indexes of the largest collections before it says it is
ready (docs/load.md: at 100k chunks the first search otherwise waits ~12 s for it, and a load
arriving at a cold process got refused while it did)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from docrag.api.app import create_app
from docrag.ingest.pipeline import Upload
from docrag.services import Runtime
from docrag.settings import Settings
from http_servers import serve


def _notes(topic: str, n: int) -> bytes:
    return (
        f"# {topic}\n\n" + "\n\n".join(f"Note {i} on {topic} and its keepers." for i in range(n))
    ).encode()


def test_the_largest_collections_are_indexed_within_the_budget(runtime: Runtime) -> None:
    big = runtime.collection(runtime.default_tenant, "warm-big", create=True)
    small = runtime.collection(runtime.default_tenant, "warm-small", create=True)
    big_doc, _ = runtime.ingest_now.ingest(big, Upload(_notes("lighthouses", 400), "big.md"))
    small_doc, _ = runtime.ingest_now.ingest(small, Upload(_notes("tides", 5), "small.md"))
    for rt_collection in (big.id, small.id):
        runtime.lexical.forget(runtime.default_tenant, rt_collection)
    held = runtime.lexical.held()
    assert (runtime.default_tenant, big.id) not in held

    # A budget the big one does not fit in: only the small one (and any other that fits).
    runtime.warm_indexes(small_doc.chunk_count)
    held = runtime.lexical.held()
    assert (runtime.default_tenant, small.id) in held and (runtime.default_tenant, big.id) not in held
    assert big_doc.chunk_count > small_doc.chunk_count

    indexed = runtime.warm_indexes(10**6)
    assert (runtime.default_tenant, big.id) in runtime.lexical.held()
    assert indexed >= big_doc.chunk_count + small_doc.chunk_count


def test_a_process_that_opens_its_own_runtime_is_ready_once_warm(settings: Settings, tmp_path: Path) -> None:
    own = settings.model_copy(update={"data_dir": tmp_path, "inprocess_worker": False})
    with serve(create_app(own)) as url:
        deadline = time.monotonic() + 60
        body: dict[str, object] = {}
        while time.monotonic() < deadline:
            r = httpx.get(f"{url}/health/ready", timeout=10)
            body = r.json()
            if r.status_code == 200:
                break
            assert "warming" in str(body["checks"]), body
            time.sleep(0.2)
        assert body.get("status") == "ok" and "search_indexes" not in body["checks"], body
