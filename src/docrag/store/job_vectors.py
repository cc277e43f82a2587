"""A worker's reuse of the served version's vectors when it indexes a new version."""

from __future__ import annotations

from docrag.domain import ChunkVectors, Job
from docrag.store.chunk_rows import embedded_spans
from docrag.store.postgres import Store


def previous_vectors(
    store: Store, job: Job, embedding_model: str
) -> dict[tuple[str, tuple[int, ...]], ChunkVectors]:
    """The served version's vectors, keyed by (embedded text, sentence spans as offsets into
    that text), when ``embedding_model`` (the one the worker embeds the job with) built them:
    a new version reuses them for every chunk whose text did not change instead of embedding
    it again."""
    with store.connection(job.tenant_id, autocommit=True) as conn:  # one read: no BEGIN, COMMIT
        rows = conn.execute(
            "SELECT c.content, c.start_offset, c.end_offset, c.body, c.sentence_spans,"
            " c.embedding, c.sentence_vectors FROM chunks c"
            " JOIN collections k ON k.id = c.collection_id AND k.tenant_id = c.tenant_id"
            " WHERE c.tenant_id = %s AND c.document_id = %s AND k.embedding_model = %s"
            " AND k.next_embedding_model IS NULL",
            (job.tenant_id, job.document_id, embedding_model),
        ).fetchall()
    found: dict[tuple[str, tuple[int, ...]], ChunkVectors] = {}
    for r in rows:
        spans = tuple(offset for span in embedded_spans(r) for offset in span)
        found[(r["content"], spans)] = ChunkVectors(
            [float(x) for x in r["embedding"].to_list()], r["sentence_vectors"]
        )
    return found
