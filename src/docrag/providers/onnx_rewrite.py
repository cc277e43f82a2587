"""Rewrites of an encoder's ONNX graph that make it cheaper to run, applied when it is loaded.

The bundled MiniLM ships its weights as int8 with one scale per output column (``Cast`` to float,
``Mul`` by the scale): ONNX Runtime folds them back to float32 at load, so every product ran in
float32 and the int8 bought a smaller file only. :func:`int8_matmuls` feeds those very int8
weights to ``DynamicQuantizeMatMul`` (ONNX Runtime's contrib operator) instead: each call's
activations are quantized to uint8 per tensor and the products run on int8 kernels (VNNI on
CPUs that have it). Nothing is re-rounded: the weights and scales are the shipped ones. The
products that narrow (the feed-forward's down projections) stay float32 (why: in the function),
unless a smoothing table is given (``DOCRAG_EMBEDDER=minilm-int8-all``, minilm_smoothing.py):
then their outlying input channels are scaled down, those weight rows up, and the columns
rounded to int8 again.
The outputs move slightly (cosine 0.997-0.998 against float32 products, over 256 SciFact
abstracts) and the model costs 1.6x less CPU (bench/embed_throughput.py). One range
quantizes a whole call, so a text's vector would depend on what it is batched with: the
embedder gives each text a call of its own (onnx_local.OnnxEmbedder's ``text_per_call``).

:func:`without_nan_guards` removes the exporter's guard after each attention softmax,
``Where(IsNaN(p), 0, p)``, which zeroes the rows of a query position whose every key is masked:
an encoder's inputs always hold [CLS], which every position may attend to, so no row is ever
all masked and the guard only cost two passes over every batch's attention weights (15% of the
kernel time of a model with every product in int8, 9% of the float32 one's CPU). Its outputs are
unchanged, bit for bit.

:func:`fused_int8_epilogues` then hands each int8 product its bias (``DynamicQuantizeMatMul``
adds it as it dequantizes, instead of a separate pass over the output) and makes each
feed-forward's GELU, exported as five element-wise operators over the widest tensor, one
``Gelu``: 15% less of the int8 model's kernel time, outputs within float rounding.

:func:`unsigned_weights` moves the int8 weights to uint8 (plus 128, zero point 128) where the
CPU's u8s8 kernels saturate (x86 without VNNI, providers/cpu_int8.py): the same numbers on exact
kernels, so such a CPU computes the vectors a VNNI CPU does.

Each rewrite matches its pattern exactly and leaves anything else as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto

#: Where ONNX Runtime's contrib operators live.
CONTRIB_DOMAIN = "com.microsoft"


def load(file: str) -> ModelProto:
    import onnx

    return onnx.load(file)


def int8_matmuls(model: ModelProto, smoothing: Sequence[Mapping[int, float]] | None = None) -> int:
    """``MatMul(a, Mul(Cast(w_int8), scale[1, n]))`` becomes ``DynamicQuantizeMatMul(a, w_int8,
    scale[n])``; returns how many were rewritten.

    The products that narrow (:func:`narrowing_products`) stay float32 unless ``smoothing``
    gives one table per such product, in graph order (``{input channel: factor}``): then
    channel ``c`` of the product's input is divided by its factor and row ``c`` of the weights
    multiplied by it, so that a few channels far larger than the rest no longer set the range
    that every channel is quantized with; the weights of the columns this changes are rounded
    to int8 again, per column as shipped.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    narrowing = narrowing_products(model)
    if smoothing is not None and len(smoothing) != len(narrowing):
        raise ValueError(f"{len(smoothing)} smoothing tables for {len(narrowing)} narrowing products")
    tables = {id(node): table for node, table in zip(narrowing, smoothing or (), strict=False)}
    producer = _producers(graph.node)
    uses = _uses(graph.node)
    initializers = {t.name: t for t in graph.initializer}
    replaced: dict[int, list[NodeProto]] = {}
    gone: set[int] = set()
    for node in graph.node:
        found = _int8_weight(node, producer, initializers)
        if found is None:
            continue
        mul, cast, weight = found
        scale = initializers.get(mul.input[1])
        if scale is None or uses[mul.output[0]] != 1 or uses[cast.output[0]] != 1:
            continue
        if weight.dims[0] > weight.dims[-1] and id(node) not in tables:
            # A product that narrows (the feed-forward's down projection, 1536 -> 384) stays
            # float32 without a smoothing table: its input is the GELU's output, a few of whose
            # channels are far larger than the rest, and one range for the whole tensor leaves
            # the others a few levels. Over 128 SciFact abstracts, cosine to float32: 0.9957
            # with every product in int8, 0.9982 with these kept; SciFact's dense nDCG@10
            # 0.664 against 0.676.
            continue
        scales = numpy_helper.to_array(scale)
        if scales.ndim != 2 or scales.shape[0] != 1 or scales.shape[1] != weight.dims[-1]:
            continue  # one scale per output column: what the shipped weights carry
        a, w_name, flat = node.input[0], weight.name, scales.reshape(-1).astype("float32")
        added: list[NodeProto] = []
        if id(node) in tables:
            a, w_name, flat, smooth = _smoothed(node, numpy_helper.to_array(weight), flat, tables[id(node)])
            graph.initializer.extend(smooth)
            added.append(
                helper.make_node("Mul", [node.input[0], smooth[-1].name], [a], name=f"{node.name}/smooth")
            )
        scale_tensor = numpy_helper.from_array(flat, f"{node.name}/b_scale")
        graph.initializer.append(scale_tensor)
        product = helper.make_node(
            "DynamicQuantizeMatMul",
            [a, w_name, scale_tensor.name],
            list(node.output),
            name=f"{node.name}/int8",
            domain=CONTRIB_DOMAIN,
        )
        replaced[id(node)] = [*added, product]
        gone.update((id(mul), id(cast)))
    if replaced:
        _replace_nodes(graph, replaced, gone)
        _drop_unused_initializers(graph)
        _import_contrib(model)
    return len(replaced)


def narrowing_products(model: ModelProto) -> list[NodeProto]:
    """The int8-weighted ``MatMul`` nodes whose output is narrower than their input (a
    feed-forward's down projection), in graph order."""
    producer = _producers(model.graph.node)
    initializers = {t.name: t for t in model.graph.initializer}
    found = []
    for node in model.graph.node:
        matched = _int8_weight(node, producer, initializers)
        if matched is not None and matched[2].dims[0] > matched[2].dims[-1]:
            found.append(node)
    return found


def _int8_weight(
    node: NodeProto, producer: Mapping[str, NodeProto], initializers: Mapping[str, Any]
) -> tuple[NodeProto, NodeProto, Any] | None:
    """For ``MatMul(a, Mul(Cast(w), scale))`` with ``w`` an int8 initializer: the ``Mul``, the
    ``Cast`` and ``w``."""
    import onnx

    mul = producer.get(node.input[1]) if node.op_type == "MatMul" else None
    cast = producer.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
    weight = initializers.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
    if mul is None or cast is None or weight is None or weight.data_type != onnx.TensorProto.INT8:
        return None
    return mul, cast, weight


def _smoothed(
    node: NodeProto, weight: Any, scales: Any, table: Mapping[int, float]
) -> tuple[str, str, Any, list[Any]]:
    """The smoothed input's name, the new int8 weights' name, their column scales, and the
    tensors to add (the weights, then the input's per-channel divisors)."""
    import numpy as np
    from onnx import numpy_helper

    factors = np.ones(weight.shape[0], dtype=np.float32)
    for channel, factor in table.items():
        factors[channel] = factor
    real = weight.astype(np.float32) * scales[None, :] * factors[:, None]
    new_scales = (np.abs(real).max(axis=0) / 127.0).astype(np.float32)
    new_scales[new_scales == 0] = 1.0
    quantized = np.clip(np.rint(real / new_scales), -127, 127).astype(np.int8)
    tensors = [
        numpy_helper.from_array(quantized, f"{node.name}/w_smoothed"),
        numpy_helper.from_array((1.0 / factors).astype(np.float32), f"{node.name}/inverse_factors"),
    ]
    return f"{node.name}/smoothed_input", tensors[0].name, new_scales, tensors


def without_nan_guards(model: ModelProto) -> int:
    """``Where(IsNaN(p), c, p)`` becomes ``p``; returns how many guards were removed. Only for an
    encoder whose every input position may attend to some key (see the module's docstring)."""
    graph = model.graph
    producer = _producers(graph.node)
    renamed: dict[str, str] = {}
    gone: set[int] = set()
    outputs = {o.name for o in graph.output}
    uses = _uses(graph.node)
    for node in graph.node:
        if node.op_type != "Where" or node.output[0] in outputs:
            continue
        test = producer.get(node.input[0])
        if test is not None and test.op_type == "IsNaN" and test.input[0] == node.input[2]:
            renamed[node.output[0]] = node.input[2]
            gone.add(id(node))
            if uses[test.output[0]] == 1:
                gone.add(id(test))
    if renamed:
        for node in graph.node:
            for k, name in enumerate(node.input):
                if name in renamed:
                    node.input[k] = renamed[name]
        _replace_nodes(graph, {}, gone)
    return len(renamed)


def fused_int8_epilogues(model: ModelProto) -> tuple[int, int]:
    """``Add(DynamicQuantizeMatMul(a, w, s), bias[n])`` becomes ``DynamicQuantizeMatMul(a, w, s,
    , bias)``, and ``Mul(x, Mul(0.5, Add(Erf(Div(x, sqrt 2)), 1)))`` (operands in either order)
    becomes ``Gelu(x)``; returns how many biases and GELUs were fused."""
    from onnx import helper, numpy_helper

    graph = model.graph
    consumers = _consumers(graph.node)
    initializers = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}

    def constant(name: str) -> float | None:
        found = initializers.get(name)
        if found is None or int(numpy_helper.to_array(found).size) != 1:
            return None
        return float(numpy_helper.to_array(found).reshape(-1)[0])

    def only_use(name: str) -> NodeProto | None:
        users = consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in outputs else None

    replaced: dict[int, NodeProto] = {}
    gone: set[int] = set()
    biases = 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeMatMul" or node.domain != CONTRIB_DOMAIN or len(node.input) != 3:
            continue
        add = only_use(node.output[0])
        if add is None or add.op_type != "Add":
            continue
        bias = initializers.get(add.input[1] if add.input[0] == node.output[0] else add.input[0])
        columns = initializers[node.input[1]].dims[-1] if node.input[1] in initializers else None
        if bias is None or list(bias.dims) != [columns]:
            continue
        replaced[id(node)] = helper.make_node(
            "DynamicQuantizeMatMul",
            [*node.input, "", bias.name],
            list(add.output),
            name=node.name,
            domain=CONTRIB_DOMAIN,
        )
        gone.add(id(add))
        biases += 1
    gelus = 0
    for div in graph.node:
        root = constant(div.input[1]) if div.op_type == "Div" else None
        if root is None or abs(root - 2**0.5) > 1e-6:
            continue
        x = div.input[0]
        erf = only_use(div.output[0])
        plus = only_use(erf.output[0]) if erf is not None and erf.op_type == "Erf" else None
        half = only_use(plus.output[0]) if plus is not None and plus.op_type == "Add" else None
        last = only_use(half.output[0]) if half is not None and half.op_type == "Mul" else None
        if plus is None or half is None or last is None or last.op_type != "Mul" or erf is None:
            continue
        one = plus.input[1] if plus.input[0] == erf.output[0] else plus.input[0]
        point_five = half.input[0] if half.input[1] == plus.output[0] else half.input[1]
        if constant(one) != 1.0 or constant(point_five) != 0.5 or x not in last.input:
            continue
        if {u.output[0] for u in consumers.get(x, [])} != {div.output[0], last.output[0]}:
            continue
        replaced[id(last)] = helper.make_node(
            "Gelu", [x], list(last.output), name=f"{last.name}/gelu", domain=CONTRIB_DOMAIN
        )
        gone.update((id(div), id(erf), id(plus), id(half)))
        gelus += 1
    if replaced:
        _replace_nodes(graph, replaced, gone)
        _drop_unused_initializers(graph)
        _import_contrib(model)
    return biases, gelus


def unsigned_weights(model: ModelProto) -> int:
    """Each ``DynamicQuantizeMatMul``'s int8 weights ``w`` become uint8 ``w + 128`` with zero
    point 128: the same numbers, on ONNX Runtime's u8u8 kernels instead of its u8s8 ones. On an
    x86 CPU without VNNI the u8s8 kernels add pairs of products in 16 bits, which saturate
    (255 * 127 * 2 > 32767: ONNX Runtime's quantization guide); u8u8 widens first and, as VNNI
    does, computes every product exactly. Returns how many were rewritten."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    rewritten = 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeMatMul" or node.domain != CONTRIB_DOMAIN:
            continue
        weight = initializers.get(node.input[1])
        if weight is None or weight.data_type != TensorProto.INT8 or (len(node.input) > 3 and node.input[3]):
            continue  # only the shipped symmetric int8 weights (no zero point of their own)
        signed = numpy_helper.to_array(weight).astype(np.int16)
        unsigned = numpy_helper.from_array((signed + 128).astype(np.uint8), f"{node.name}/b_u8")
        zero = numpy_helper.from_array(np.array(128, dtype=np.uint8), f"{node.name}/b_zero_point")
        graph.initializer.extend([unsigned, zero])
        inputs = [*node.input, *[""] * (4 - len(node.input))]
        inputs[1], inputs[3] = unsigned.name, zero.name
        del node.input[:]
        node.input.extend(inputs)
        rewritten += 1
    if rewritten:
        _drop_unused_initializers(graph)
    return rewritten


def serialized(model: ModelProto) -> bytes:
    return bytes(model.SerializeToString())


def _import_contrib(model: ModelProto) -> None:
    from onnx import helper

    if not any(o.domain == CONTRIB_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(CONTRIB_DOMAIN, 1))


def _producers(nodes: Any) -> dict[str, NodeProto]:
    return {out: node for node in nodes for out in node.output}


def _consumers(nodes: Any) -> dict[str, list[NodeProto]]:
    found: dict[str, list[NodeProto]] = {}
    for node in nodes:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _uses(nodes: Any) -> dict[str, int]:
    return {name: len(users) for name, users in _consumers(nodes).items()}


def _replace_nodes(graph: Any, replaced: Mapping[int, NodeProto | list[NodeProto]], gone: set[int]) -> None:
    kept: list[NodeProto] = []
    for node in graph.node:
        if id(node) not in gone:
            new = replaced.get(id(node), node)
            kept.extend(new if isinstance(new, list) else [new])
    del graph.node[:]
    graph.node.extend(kept)


def _drop_unused_initializers(graph: Any) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
