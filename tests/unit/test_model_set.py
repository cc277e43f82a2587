"""The models one server embeds with (providers/model_set.py): the primary for new collections,
the bundled model's other ways of computing for the collections they indexed, built once on first
use, and a refusal for anything else."""

from __future__ import annotations

import numpy as np
import pytest

from docrag.errors import Conflict
from docrag.providers.batching import BatchingEmbedder
from docrag.providers.minilm_onnx import MODEL_IDS
from docrag.providers.registry import build_models
from docrag.settings import Settings

INT8, FP32 = MODEL_IDS["int8"], MODEL_IDS["float32"]


def test_a_sibling_is_built_once_and_only_when_a_collection_needs_it() -> None:
    built: list[str] = []

    def counted(e):  # type: ignore[no-untyped-def]
        built.append(e.model_id)
        return e

    models = build_models(Settings(), counted)
    assert built == [INT8] and [e.model_id for e in models.loaded()] == [INT8]
    assert models.for_model(INT8, 384, "new") is models.primary
    first = models.for_model(FP32, 384, "old")
    assert models.for_model(FP32, 384, "old") is first
    assert built == [INT8, FP32] and [e.model_id for e in models.loaded()] == [INT8, FP32]
    # The sibling really computes in float32: its vector is not the primary's.
    text = ["tides follow the moon"]
    v_old, v_new = first.embed_batch(text)[0], models.primary.embed_batch(text)[0]
    assert 0.99 < float(v_old @ v_new) < 0.99999


def test_a_known_model_of_another_dimension_is_refused() -> None:
    models = build_models(Settings())
    with pytest.raises(Conflict) as caught:
        models.for_model(FP32, 768, "odd")
    assert caught.value.code == "embedding_model_mismatch" and "768 dimensions" in caught.value.message


def test_a_single_embedder_serves_only_its_own_model() -> None:
    models = build_models(Settings(embedder="openai", embedder_url="http://127.0.0.1:9", embedder_model="m"))
    assert models.served == {models.primary.model_id}
    with pytest.raises(Conflict):
        models.for_model(INT8, 384, "bundled")


def test_the_query_path_wraps_each_model_and_closes_the_siblings_it_built() -> None:
    models = build_models(Settings())
    queries = models.mapped(lambda e: BatchingEmbedder(e, max_batch=4))
    assert isinstance(queries.primary, BatchingEmbedder) and queries.primary.inner is models.primary
    old = queries.for_model(FP32, 384, "old")
    assert isinstance(old, BatchingEmbedder)
    assert old.inner is models.for_model(FP32, 384, "old")  # the one sibling, wrapped
    assert np.allclose(
        old.embed_batch(["x"]), models.for_model(FP32, 384, "old").embed_batch(["x"]), atol=1e-6
    )
    queries.close()
    assert old._closed and not queries.primary._closed  # type: ignore[attr-defined]
    queries.primary.close()  # type: ignore[attr-defined]
