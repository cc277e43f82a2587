"""``IngestNow.ingest_many`` over several pipeline groups (jobs/ingest_now.py): while one group is
embedded the next is parsed and the one before stored, and still every upload's result is its
own, in order, with failures and repeated bytes where they were, and every document searchable."""

from __future__ import annotations

from docrag.ingest.pipeline import Upload
from docrag.jobs.ingest_now import GROUP
from docrag.services import Runtime

ANIMALS = ["otter", "heron", "badger", "lynx", "marten", "puffin", "stoat", "ibex"]


def test_results_follow_the_uploads_across_groups(runtime: Runtime) -> None:
    collection = runtime.collection(runtime.default_tenant, "pipelined", create=True)
    count = 2 * GROUP + 7  # three groups, the last one short
    uploads = [
        Upload(f"Note {i}: the {ANIMALS[i % len(ANIMALS)]} number {i} was seen at dawn.".encode(), f"{i}.txt")
        for i in range(count)
    ]
    empty, repeated = GROUP + 3, 2 * GROUP + 1  # in the second group; in the third, the first's bytes
    uploads[empty] = Upload(b"   \n", "empty.txt")
    uploads[repeated] = Upload(uploads[0].data, "again.txt")

    results = runtime.ingest_now.ingest_many(collection, uploads)

    assert len(results) == count
    assert results[empty].error is not None and results[empty].error.code == "empty_file"
    assert results[empty].document is None
    first, again = results[0].document, results[repeated].document
    assert first is not None and again is not None
    assert again.id == first.id and results[0].created and not results[repeated].created
    for i, result in enumerate(results):
        if i in (empty, repeated):
            continue
        assert result.created and result.document is not None and result.document.title == f"{i}.txt"
    assert len({r.document.id for r in results if r.document is not None}) == count - 2

    last = count - 1
    hits = runtime.retriever.search(
        runtime.default_tenant, [collection.id], f"the {ANIMALS[last % len(ANIMALS)]} number {last}"
    )
    assert results[last].document is not None
    assert results[last].document.id in {h.document_id for h in hits}
