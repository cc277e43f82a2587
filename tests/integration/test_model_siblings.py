"""A collection an earlier release indexed with the bundled model's float32 products keeps being
served after the default moved to int8 products (providers/model_set.py): its new uploads, by
either path, are embedded in float32, its searches use a float32 query vector, and one search
over it and a new int8 collection finds both."""

from __future__ import annotations

import numpy as np

from docrag.ingest.pipeline import Upload
from docrag.jobs.runner import JobOutcome, JobRunner
from docrag.jobs.submit import submit
from docrag.providers.minilm_onnx import MODEL_IDS, MiniLMEmbedder
from docrag.services import Runtime

OLD_TEXT = "Kelp forests shelter sea otters from orcas along the cold Pacific coast."
QUEUED_TEXT = "Lighthouse keepers logged every passing ship in a leather-bound ledger."
NEW_TEXT = "Glaciers carve U-shaped valleys as they grind slowly down the mountains."


def _stored_vector(runtime: Runtime, collection_id: object, query: str) -> tuple[np.ndarray, str]:
    tenant = runtime.default_tenant
    (hit, *_) = runtime.retriever.search(tenant, [collection_id], query, limit=1)  # type: ignore[list-item]
    vector = runtime.store.chunk_vectors(tenant, [hit.chunk_id])[hit.chunk_id].embedding
    return np.asarray(vector, dtype=np.float32), hit.body


def test_a_float32_collection_stays_float32_beside_int8_ones(runtime: Runtime) -> None:
    tenant = runtime.default_tenant
    assert runtime.embedder.model_id == MODEL_IDS["int8"]  # the default for new collections
    old = runtime.store.create_collection(tenant, "float32-era", MODEL_IDS["float32"], 384)
    new = runtime.collection(tenant, "int8-era", create=True)
    assert new.embedding_model == MODEL_IDS["int8"]

    runtime.ingest_now.ingest(old, Upload(OLD_TEXT.encode(), "kelp.txt"))
    queued = submit(runtime.jobs, runtime.ingestor, old, Upload(QUEUED_TEXT.encode(), "ledger.txt"))
    job = runtime.jobs.claim("sibling-test", 60)
    assert job is not None and job.document_id == queued.document.id
    assert JobRunner(runtime.jobs, runtime.ingestor, runtime.settings).run(job) is JobOutcome.DONE
    runtime.ingest_now.ingest(new, Upload(NEW_TEXT.encode(), "glacier.txt"))

    fp32, int8 = MiniLMEmbedder(compute="float32"), MiniLMEmbedder(compute="int8")
    for collection, query, model in (
        (old, "sea otters in kelp", fp32),  # ingested in this process
        (old, "lighthouse ledger of ships", fp32),  # by the queue's worker
        (new, "glaciers carving valleys", int8),
    ):
        stored, body = _stored_vector(runtime, collection.id, query)
        other = int8 if model is fp32 else fp32
        same, different = (float(stored @ m.embed_batch([body])[0]) for m in (model, other))
        assert same > 0.9999 and different < 0.9995, (collection.name, same, different)

    both = runtime.retriever.search(tenant, [old.id, new.id], "otters, ledgers and glaciers", limit=10)
    found = {h.document_id for h in both}
    assert len(found) == 3
    answer = runtime.answerer.ask(tenant, [old.id, new.id], "What do kelp forests shelter?")
    assert "otter" in answer.text.lower()
