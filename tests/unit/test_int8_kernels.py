"""The int8 products compute the same numbers on every x86 CPU: where ONNX Runtime's u8s8 kernels
saturate (no VNNI), the weights go to its exact u8u8 kernels instead (onnx_rewrite.unsigned_weights)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from docrag.providers import onnx_rewrite
from docrag.providers.cpu_int8 import int8_pairs_saturate
from docrag.providers.minilm_onnx import MiniLMEmbedder

TEXTS = [
    "The ocean tide rises twice a day; its height depends on the moon and the shape of the coast.",
    "A cat sleeps most of the day.",
    "Bond yields rose sharply on Monday while traders sold shares of the largest banks " * 3,
    "Mitochondria produce most of the energy a cell uses, through oxidative phosphorylation.",
    "The committee will vote on the budget proposal next Thursday after the public hearing.",
    "Rust, Go and Python each handle memory differently: ownership, a garbage collector, reference counts.",
    "In 1969 two astronauts walked on the Moon while a third orbited above them.",
    "Add two cups of flour, a pinch of salt and the melted butter, then knead for ten minutes.",
]


def _int8_model(file: str) -> onnx.ModelProto:
    """The default way of computing, as rewritten before the choice of kernels."""
    model = onnx_rewrite.load(file)
    onnx_rewrite.without_nan_guards(model)
    onnx_rewrite.int8_matmuls(model)
    onnx_rewrite.fused_int8_epilogues(model)
    return model


class _Signed(MiniLMEmbedder):
    """The int8 products on the u8s8 kernels, whatever the CPU."""

    def _model_source(self) -> bytes:
        return onnx_rewrite.serialized(_int8_model(self._model_file()))


class _Unsigned(MiniLMEmbedder):
    """The int8 products on the u8u8 kernels, whatever the CPU."""

    def _model_source(self) -> bytes:
        model = _int8_model(self._model_file())
        onnx_rewrite.unsigned_weights(model)
        return onnx_rewrite.serialized(model)


def _products(model: onnx.ModelProto) -> dict[str, list[str]]:
    return {n.name: list(n.input) for n in model.graph.node if n.op_type == "DynamicQuantizeMatMul"}


def test_unsigned_weights_are_the_shipped_numbers() -> None:
    model = _int8_model(MiniLMEmbedder()._model_file())
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    signed = {name: initializers[inputs[1]] for name, inputs in _products(model).items()}
    assert onnx_rewrite.unsigned_weights(model) == len(signed) == 30
    assert onnx_rewrite.unsigned_weights(model) == 0  # a second pass finds nothing left to change
    by_name = {t.name: t for t in model.graph.initializer}
    for name, inputs in _products(model).items():
        weight, zero = by_name[inputs[1]], by_name[inputs[3]]
        assert weight.data_type == zero.data_type == TensorProto.UINT8
        assert numpy_helper.to_array(zero).tolist() == 128
        np.testing.assert_array_equal(numpy_helper.to_array(weight).astype(np.int16) - 128, signed[name])
    # The int8 initializers left (the embeddings', the float32 down projections') are all in use.
    left = {t.name for t in model.graph.initializer if t.data_type == TensorProto.INT8}
    assert len(left) == 8 and left <= {i for n in model.graph.node for i in n.input}
    onnx.checker.check_model(model)


def test_on_unsigned_weights_the_products_are_exact() -> None:
    fp32 = MiniLMEmbedder(compute="float32").embed_batch(TEXTS)
    unsigned = (_Unsigned().embed_batch(TEXTS) * fp32).sum(axis=1)
    signed = (_Signed().embed_batch(TEXTS) * fp32).sum(axis=1)
    # Exact integer products (u8u8 here, u8s8 on VNNI): as close as int8 gets on any CPU. Saturating
    # u8s8 kernels (AVX2 without VNNI) gave 0.9940 at worst on these texts.
    assert unsigned.min() > 0.996, unsigned
    assert unsigned.mean() >= signed.mean() - 1e-4, (unsigned, signed)


def test_the_default_takes_the_exact_kernels_where_u8s8_saturates() -> None:
    default = MiniLMEmbedder(compute="int8").embed_batch(TEXTS)
    exact = _Unsigned().embed_batch(TEXTS) if int8_pairs_saturate() else _Signed().embed_batch(TEXTS)
    np.testing.assert_allclose(default, exact, atol=1e-6)


@pytest.mark.parametrize(
    ("flags", "saturates"),
    [
        ("fpu sse2 avx avx2 fma", True),  # AVX2 only
        ("fpu sse2 avx2 avx512f avx512bw", True),  # AVX-512 without VNNI
        ("fpu avx2 avx512f avx512_vnni", False),
        ("fpu avx2 avx_vnni", False),  # AVX-VNNI on AVX2 cores
    ],
)
def test_which_cpus_saturate(tmp_path: Path, flags: str, saturates: bool) -> None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("only x86 CPUs have u8s8 kernels that saturate")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        f"processor\t: 0\nvendor_id\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n"
    )
    assert int8_pairs_saturate(cpuinfo) is saturates
    assert int8_pairs_saturate(tmp_path / "missing") is False
