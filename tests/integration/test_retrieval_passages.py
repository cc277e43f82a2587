"""Retrieval hands answering its passages whole: every hit carries its stored sentences (offsets
into its body, each with its page) and, when asked for, one vector per sentence, whichever leg
found it, so an answer never reads a chunk again."""

from __future__ import annotations

import numpy as np
import pytest

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.retrieval.hybrid import Retriever
from docrag.services import Runtime

NOTES = {
    "kettle": "Descale the kettle every month. Citric acid works best. Rinse it twice afterwards.",
    "garden": "Water the tomatoes at dawn. Mulch keeps the soil moist. Pick them when they are red.",
    "bicycle": "Oil the chain every week. Check the tyre pressure before a long ride. Clean the brakes.",
}


@pytest.fixture(scope="module")
def collection(runtime: Runtime) -> Collection:
    tenant = runtime.store.ensure_tenant("retrieval-passages")
    coll = runtime.collection(tenant, "passages", create=True)
    for name, text in NOTES.items():
        runtime.ingest_now.ingest(coll, Upload(f"# {name}\n\n{text}\n".encode(), f"{name}.md"))
    return coll


@pytest.mark.parametrize("sentence_weight", [2.0, 0.0])  # 0: the dense leg reads no sentence vectors
def test_hits_carry_their_sentences_and_vectors(
    runtime: Runtime, collection: Collection, sentence_weight: float
) -> None:
    retriever: Retriever = runtime.retriever.variant(
        runtime.settings.model_copy(update={"dense_sentence_weight": sentence_weight})
    )
    found = retriever.retrieve(
        collection.tenant_id, [collection.id], "how often should I descale", limit=3, with_vectors=True
    )
    assert len(found.hits) == 3 and "Descale" in found.hits[0].body
    dim = found.query_vector.shape[0]
    for hit in found.hits:
        texts = [hit.body[s.start - hit.start : s.end - hit.start] for s in hit.sentences]
        assert len(texts) >= 3 and all(t.strip() for t in texts)
        assert any(t.startswith(NOTES[hit.document_title].split(".")[0]) for t in texts)
        vectors = np.frombuffer(found.sentence_vectors[hit.chunk_id], dtype=np.float16)
        assert vectors.size == len(hit.sentences) * dim


def test_a_plain_search_reads_no_vectors(runtime: Runtime, collection: Collection) -> None:
    found = runtime.retriever.retrieve(collection.tenant_id, [collection.id], "chain oil", limit=2)
    assert found.hits and found.hits[0].sentences and found.sentence_vectors == {}


def test_an_extractive_answer_cites_the_sentences_retrieval_carried(
    runtime: Runtime, collection: Collection
) -> None:
    answer = runtime.answerer.ask(
        collection.tenant_id, [collection.id], "How often should the chain be oiled?"
    )
    assert answer.answered
    carried = {(h.chunk_id, s.start, s.end, s.page) for h in answer.passages for s in h.sentences}
    cited = [c for s in answer.sentences for c in s.citations]
    assert cited and all((c.chunk_id, c.start, c.end, c.page) in carried for c in cited)
    assert any("Oil the chain every week" in c.quote for c in cited)
