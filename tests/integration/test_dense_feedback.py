"""Rocchio feedback on the dense leg (retrieval/hybrid.py): each dense candidate's score is its
similarity to the query vector moved towards the first fused ranking's top chunks, plus the
sentence weight times its best sentence's, computed here from the stored vectors."""

from __future__ import annotations

import numpy as np

from docrag.ingest.pipeline import Upload
from docrag.retrieval.sentences import decode
from docrag.services import Runtime

DOCS = {
    "tides.txt": "Tides rise and fall twice a day. The moon's gravity pulls the oceans into two bulges.",
    "moon.txt": "The moon orbits the earth every 27 days. Its phases follow the angle of the sunlight.",
    "harbour.txt": "Harbour pilots time their work by the tide tables. Ships wait for high water.",
    "bread.txt": "Sourdough bread rises slowly. A starter of wild yeast leavens the dough overnight.",
    "chess.txt": "A chess opening aims to control the centre. Knights develop before bishops.",
}


def test_dense_scores_come_from_the_moved_query_vector(runtime: Runtime) -> None:
    tenant = runtime.default_tenant
    coll = runtime.collection(tenant, "feedback", create=True)
    runtime.ingest_now.ingest_many(coll, [Upload(text.encode(), name) for name, text in DOCS.items()])
    settings = runtime.settings
    assert settings.dense_feedback_chunks == 3 and settings.dense_sentence_weight > 0
    query = "when is the water high in the harbour?"
    plain = runtime.retriever.variant(settings.model_copy(update={"dense_feedback_chunks": 0}))
    first = plain.retrieve(tenant, [coll.id], query, limit=10)
    found = runtime.retriever.retrieve(tenant, [coll.id], query, limit=10)

    ids = [h.chunk_id for h in found.hits]
    read = runtime.store.chunk_vectors(tenant, ids + [h.chunk_id for h in first.hits])
    vectors = {chunk_id: v.embedding for chunk_id, v in read.items()}
    sentences = runtime.store.sentence_vectors(tenant, ids)
    top = np.mean([vectors[h.chunk_id] for h in first.hits[:3]], axis=0)
    moved = found.query_vector + settings.dense_feedback_weight * top
    moved = moved / np.linalg.norm(moved)
    scored = [h for h in found.hits if h.dense_score is not None]
    assert len(scored) == len(DOCS)  # every chunk is a dense candidate in so small a collection
    for hit in scored:
        similarity = float(vectors[hit.chunk_id] @ moved)
        rows = sentences.get(hit.chunk_id)
        best = float((decode(rows, moved.shape[0]) @ moved).max()) if rows else similarity
        expected = similarity + settings.dense_sentence_weight * best
        assert abs(hit.dense_score - expected) < 1e-4, (hit.chunk_id, hit.dense_score, expected)
    # and the feedback moved something: without it the dense scores are the query's own
    before = {h.chunk_id: h.dense_score for h in first.hits}
    assert any(abs((before[h.chunk_id] or 0.0) - (h.dense_score or 0.0)) > 1e-3 for h in scored)
