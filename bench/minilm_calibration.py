"""Derives the bundled MiniLM's smoothing table (src/docrag/providers/minilm_smoothing.py).

Runs the default int8 model (``DOCRAG_EMBEDDER=minilm``: the six down projections in float32)
over paragraphs of plain English, records the largest magnitude each of the 1,536 channels
entering each down projection reaches, and prints the channels above the layer's 99th
percentile with the factor that brings them down to it (``max / p99``). The default text is
this repository's own prose (README.md and docs/*.md): never an evaluation set.

    python bench/minilm_calibration.py [--text FILE ...] [--quantile 0.99]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from docrag.providers import onnx_rewrite
from docrag.providers.minilm_onnx import MiniLMEmbedder
from docrag.providers.onnx_local import open_session
from docrag.text.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]


def paragraphs(files: list[Path], limit: int) -> list[str]:
    found = []
    for file in files:
        found += [p.strip() for p in file.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 200]
    return found[:limit]


def channel_maxima(texts: list[str]) -> np.ndarray:
    """[layer, channel]: the largest |activation| entering each down projection."""
    from onnx import TensorProto, helper

    model = onnx_rewrite.load(MiniLMEmbedder()._model_file())
    onnx_rewrite.int8_matmuls(model)  # no table: the down projections stay float32
    names = [n.input[0] for n in onnx_rewrite.narrowing_products(model)]
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = open_session(onnx_rewrite.serialized(model), threads=1)
    declared = {i.name for i in session.get_inputs()}
    tokenizer = load_tokenizer()
    maxima = np.zeros((len(names), 1536), dtype=np.float32)
    for text in texts:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        values = session.run(names, {k: v for k, v in feed.items() if k in declared})
        for layer, value in enumerate(values):
            maxima[layer] = np.maximum(maxima[layer], np.abs(value[0]).max(axis=0))
    return maxima


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--text", type=Path, action="append", help="text files (default: README.md, docs/*.md)"
    )
    parser.add_argument("--quantile", type=float, default=0.99)
    parser.add_argument("--paragraphs", type=int, default=200)
    args = parser.parse_args()
    files = args.text or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    texts = paragraphs(files, args.paragraphs)
    maxima = channel_maxima(texts)
    print(
        f"# {len(texts)} paragraphs; channels above each layer's {args.quantile} quantile of channel maxima"
    )
    print("SMOOTHING: tuple[dict[int, float], ...] = (")
    for layer in maxima:
        limit = float(np.quantile(layer, args.quantile))
        over = {
            int(c): round(float(layer[c] / limit), 2) for c in np.argsort(-layer) if layer[c] > 1.005 * limit
        }
        print(f"    {over},")
    print(")")


if __name__ == "__main__":
    main()
