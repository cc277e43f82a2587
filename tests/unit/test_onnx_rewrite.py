"""The bundled model's graph rewrites (providers/onnx_rewrite.py), on the real model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from docrag.errors import Conflict
from docrag.providers import onnx_rewrite
from docrag.providers.minilm_onnx import COMPUTES, MODEL_IDS, SETTING_FOR_MODEL, MiniLMEmbedder
from docrag.providers.minilm_smoothing import SMOOTHING
from docrag.providers.model_set import ModelSet
from docrag.providers.onnx_local import inspect_session, open_session, run_encoder
from docrag.providers.registry import build_embedder, build_models
from docrag.settings import Settings
from docrag.text.tokenizer import load_tokenizer

TEXTS = [
    "The ocean tide rises twice a day; its height depends on the moon and the shape of the coast.",
    "A cat sleeps most of the day.",
    "Bond yields rose sharply on Monday while traders sold shares of the largest banks " * 3,
]


@pytest.fixture(scope="module")
def model_file() -> str:
    return MiniLMEmbedder()._model_file()


def _outputs(source: str | bytes) -> np.ndarray:
    model = inspect_session(open_session(source, threads=1), ("last_hidden_state",))
    encodings = load_tokenizer().encode_batch(TEXTS)  # of different lengths: the batch is padded
    hidden, _ = run_encoder(model, encodings)
    return np.asarray(hidden)


def test_the_int8_products_use_the_shipped_weights_as_they_are(model_file: str) -> None:
    shipped = onnx_rewrite.load(model_file)
    weights = {t.name: t.raw_data for t in shipped.graph.initializer if t.data_type == TensorProto.INT8}
    model = onnx_rewrite.load(model_file)
    assert onnx_rewrite.int8_matmuls(model) == 30  # 6 layers: query, key, value, output, feed-forward up
    products = [n for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"]
    assert len(products) == 30 and all(n.domain == onnx_rewrite.CONTRIB_DOMAIN for n in products)
    initializers = {t.name: t for t in model.graph.initializer}
    for node in products:
        weight = initializers[node.input[1]]
        assert weight.raw_data == weights[node.input[1]]  # not re-rounded
        assert numpy_helper.to_array(initializers[node.input[2]]).shape == (weight.dims[-1],)
    # What is still widened to float32: the embedding tables, and the six narrowing products'
    # weights (the feed-forward's down projection, 1536 -> 384), kept float32 on purpose.
    widened = {n.input[0] for n in model.graph.node if n.op_type == "Cast" and n.input[0] in weights}
    tables = {"inner.embeddings.word_embeddings.weight_q", "inner.embeddings.position_embeddings.weight_q"}
    assert tables <= widened
    narrowing = [initializers[name] for name in widened - tables]
    assert len(narrowing) == 6 and all(list(w.dims) == [1536, 384] for w in narrowing)
    onnx.checker.check_model(model)


def test_int8_products_move_the_vectors_only_slightly() -> None:
    fp32 = MiniLMEmbedder(compute="float32").embed_batch(TEXTS)
    for compute in ("int8", "int8-all"):
        int8 = MiniLMEmbedder(compute=compute).embed_batch(TEXTS)
        cosines = (fp32 * int8).sum(axis=1)
        assert cosines.min() > 0.99, (compute, cosines)
        assert not np.allclose(fp32, int8, atol=1e-4)  # the products really are computed another way


MORE_TEXTS = [
    *TEXTS,
    "Mitochondria produce most of the energy a cell uses, through oxidative phosphorylation.",
    "The committee will vote on the budget proposal next Thursday after the public hearing.",
    "Rust, Go and Python each handle memory differently: ownership, a garbage collector, reference counts.",
    "In 1969 two astronauts walked on the Moon while a third orbited above them.",
    "Add two cups of flour, a pinch of salt and the melted butter, then knead for ten minutes.",
]


class _Unsmoothed(MiniLMEmbedder):
    """Every product in int8, the down projections' outlying channels left as they are."""

    def _model_source(self) -> bytes:
        model = onnx_rewrite.load(self._model_file())
        onnx_rewrite.without_nan_guards(model)
        onnx_rewrite.int8_matmuls(model, [{} for _ in SMOOTHING])
        onnx_rewrite.fused_int8_epilogues(model)
        return onnx_rewrite.serialized(model)


def test_smoothing_moves_the_down_projections_to_int8_and_keeps_the_vectors_closer(model_file: str) -> None:
    shipped = onnx_rewrite.load(model_file)
    weights = {t.name: t for t in shipped.graph.initializer if t.data_type == TensorProto.INT8}
    narrowing = [n.name for n in onnx_rewrite.narrowing_products(shipped)]
    assert len(narrowing) == len(SMOOTHING) == 6
    model = onnx_rewrite.load(model_file)
    assert onnx_rewrite.int8_matmuls(model, SMOOTHING) == 36  # the down projections too
    assert not onnx_rewrite.narrowing_products(model)
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {out: n for n in model.graph.node for out in n.output}
    for name, table in zip(narrowing, SMOOTHING, strict=True):
        product = next(n for n in model.graph.node if n.name == f"{name}/int8")
        smooth = producer[product.input[0]]  # the input, divided channel by channel
        divisors = initializers[smooth.input[1]]
        assert smooth.op_type == "Mul" and divisors.shape == (1536,)
        factors = np.ones(1536, dtype=np.float32)
        factors[list(table)] = list(table.values())
        np.testing.assert_allclose(divisors, 1 / factors, rtol=1e-6)
        # The weights' rows are multiplied by the same factors: within a rounding step of
        # the shipped weights times them, so the product is the same in exact arithmetic.
        original = next(n for n in shipped.graph.node if n.name == name)
        mul = next(n for n in shipped.graph.node if n.output[0] == original.input[1])
        cast = next(n for n in shipped.graph.node if n.output[0] == mul.input[0])
        shipped_scale = numpy_helper.to_array(
            next(t for t in shipped.graph.initializer if t.name == mul.input[1])
        )
        before = numpy_helper.to_array(weights[cast.input[0]]) * shipped_scale * factors[:, None]
        scale = initializers[product.input[2]]
        after = initializers[product.input[1]].astype(np.float32) * scale
        assert np.all(np.abs(after - before) <= scale / 2 + 1e-7)
    onnx.checker.check_model(model)
    fp32 = MiniLMEmbedder(compute="float32").embed_batch(MORE_TEXTS)
    smoothed = (MiniLMEmbedder(compute="int8-all").embed_batch(MORE_TEXTS) * fp32).sum(axis=1)
    unsmoothed = (_Unsmoothed(compute="int8-all").embed_batch(MORE_TEXTS) * fp32).sum(axis=1)
    # How close int8 gets depends on the CPU's int8 kernels: min 0.9952 on a Xeon with AVX-512
    # VNNI, 0.9923 on an AMD EPYC with AVX2 only (where the default int8 model's is 0.9940).
    assert smoothed.min() > 0.99, smoothed
    # On either, smoothing takes at least a tenth off the distance to float32 (a sixth on the AMD).
    assert 1 - smoothed.mean() < 0.9 * (1 - unsmoothed.mean()), (smoothed, unsmoothed)


def test_a_smoothing_table_per_down_projection_or_none(model_file: str) -> None:
    model = onnx_rewrite.load(model_file)
    with pytest.raises(ValueError, match="5 smoothing tables for 6"):
        onnx_rewrite.int8_matmuls(model, SMOOTHING[:5])


def test_removing_the_nan_guards_changes_no_output(model_file: str) -> None:
    model = onnx_rewrite.load(model_file)
    assert onnx_rewrite.without_nan_guards(model) == 6  # one after each layer's attention softmax
    assert not any(n.op_type == "IsNaN" for n in model.graph.node)
    np.testing.assert_array_equal(_outputs(onnx_rewrite.serialized(model)), _outputs(model_file))


def test_the_residual_adds_and_layer_norms_run_unfused(tmp_path: Path) -> None:
    """ONNX Runtime's SkipLayerNormalization is slower than the Add and LayerNormalization it
    fuses (onnx_local._SLOWER_FUSIONS): sessions leave them apart."""
    written = tmp_path / "optimized.onnx"
    open_session(MiniLMEmbedder()._model_source(), threads=1, optimized_to=written)
    ops = [n.op_type for n in onnx.load(str(written)).graph.node]
    assert "SkipLayerNormalization" not in ops
    assert ops.count("LayerNormalization") == 13  # the embeddings', then two per layer
    assert "DynamicQuantizeMatMul" in ops and "Gelu" in ops  # the other fusions and rewrites still apply


def _tiny(weight: np.ndarray, scale: np.ndarray) -> onnx.ModelProto:
    """``y = x @ (float(w) * scale)``, and a ``Where(IsNaN(x), 0, y)`` that is not a guard."""
    nodes = [
        helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["wf", "s"], ["wd"]),
        helper.make_node("MatMul", ["x", "wd"], ["y"]),
        helper.make_node("IsNaN", ["x"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "y"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 4])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(scale, "s"),
            numpy_helper.from_array(np.zeros(1, dtype=np.float32), "zero"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_what_does_not_match_the_patterns_is_left_alone() -> None:
    scalar_scale = _tiny(np.ones((4, 4), dtype=np.int8), np.full((1, 1), 0.5, dtype=np.float32))
    float_weights = _tiny(np.ones((4, 4), dtype=np.float32), np.full((1, 4), 0.5, dtype=np.float32))
    for model in (scalar_scale, float_weights):
        before = model.SerializeToString()
        assert onnx_rewrite.int8_matmuls(model) == 0
        assert onnx_rewrite.without_nan_guards(model) == 0  # Where(IsNaN(x), 0, y): y is not x
        assert model.SerializeToString() == before
    per_column = _tiny(np.arange(16, dtype=np.int8).reshape(4, 4), np.full((1, 4), 0.5, dtype=np.float32))
    assert onnx_rewrite.int8_matmuls(per_column) == 1


def test_the_three_ways_of_computing_are_three_models_to_a_collection() -> None:
    int8, fp32 = MiniLMEmbedder(), MiniLMEmbedder(compute="float32")
    assert (int8.model_id, fp32.model_id) == (MODEL_IDS["int8"], MODEL_IDS["float32"])
    assert len(set(MODEL_IDS.values())) == 3
    # The id earlier releases recorded for int8 products stays theirs: those collections
    # keep being served by the products that built them.
    assert MODEL_IDS["int8"] == "all-MiniLM-L6-v2-onnx-int8-dynamic"
    assert build_embedder(Settings(embedder="minilm")).model_id == MODEL_IDS["int8"]  # the default
    assert build_embedder(Settings(embedder="minilm-int8")).model_id == MODEL_IDS["int8"]  # its old name
    assert build_embedder(Settings(embedder="minilm-int8-all")).model_id == MODEL_IDS["int8-all"]
    assert build_embedder(Settings(embedder="minilm-fp32")).model_id == MODEL_IDS["float32"]
    for setting, primary in (("minilm", "int8"), ("minilm-int8-all", "int8-all"), ("minilm-fp32", "float32")):
        models = build_models(Settings(embedder=setting))
        assert models.primary.model_id == MODEL_IDS[primary]
        assert models.served == set(MODEL_IDS.values())
        # Each serves the collections the other ways of computing indexed, with their way.
        for other in COMPUTES:
            assert models.for_model(MODEL_IDS[other], 384, "old").model_id == MODEL_IDS[other]
        with pytest.raises(Conflict) as caught:
            models.for_model("all-mpnet-base-v2", 768, "c")
        assert caught.value.code == "embedding_model_mismatch" and "docrag reindex" in caught.value.message
    # A refusal names the setting that indexes the collection's model, where one does.
    with pytest.raises(Conflict) as caught:
        ModelSet(fp32).for_model(MODEL_IDS["int8"], 384, "c")
    assert "(DOCRAG_EMBEDDER=DOCRAG_EMBEDDER)" not in caught.value.message
    refused = ModelSet(fp32, settings_for=SETTING_FOR_MODEL)
    with pytest.raises(Conflict) as caught:
        refused.for_model(MODEL_IDS["int8"], 384, "c")
    assert "(DOCRAG_EMBEDDER=minilm)" in caught.value.message


def test_the_int8_epilogues_fuse_without_moving_the_vectors(model_file: str) -> None:
    model = onnx_rewrite.load(model_file)
    onnx_rewrite.without_nan_guards(model)
    onnx_rewrite.int8_matmuls(model)
    unfused = onnx_rewrite.serialized(model)
    assert onnx_rewrite.fused_int8_epilogues(model) == (30, 6)  # every int8 product's bias; each layer's GELU
    ops = [n.op_type for n in model.graph.node]
    assert "Erf" not in ops and ops.count("Gelu") == 6
    biased = [n for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"]
    assert all(len(n.input) == 5 and n.input[3] == "" and n.input[4].endswith(".bias") for n in biased)
    assert onnx_rewrite.fused_int8_epilogues(model) == (0, 0)  # nothing left to fuse
    # Float rounding moves some activations across an int8 step: the vectors stay as close to
    # float32 products as before (tests/unit/test_embedder.py), and to the unfused ones.
    before, after = _outputs(unfused)[:, 0], _outputs(onnx_rewrite.serialized(model))[:, 0]
    cosines = (before * after).sum(-1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(after, axis=-1)
    assert cosines.min() > 0.995, cosines


def test_a_gelu_of_other_constants_is_left_alone() -> None:
    def gelu_like(root: float) -> onnx.ModelProto:
        nodes = [
            helper.make_node("Div", ["x", "root"], ["d"]),
            helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["p"]),
            helper.make_node("Mul", ["half", "p"], ["h"]),
            helper.make_node("Mul", ["x", "h"], ["y"]),
        ]
        constants = {"root": root, "one": 1.0, "half": 0.5}
        graph = helper.make_graph(
            nodes,
            "gelu",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
            [numpy_helper.from_array(np.array(v, dtype=np.float32), k) for k, v in constants.items()],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    assert onnx_rewrite.fused_int8_epilogues(gelu_like(2.0)) == (0, 0)
    model = gelu_like(2**0.5)
    assert onnx_rewrite.fused_int8_epilogues(model) == (0, 1)
    assert [n.op_type for n in model.graph.node] == ["Gelu"]
