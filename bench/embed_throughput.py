"""Embedding throughput of the bundled model on this machine, each way of computing it.

    python bench/embed_throughput.py --corpus ../shared/data/scifact/corpus.jsonl --n 256

Embeds ``--n`` passages of the corpus (title + text, truncated at the model's 256 tokens) each
way of computing: the int8 products (``DOCRAG_EMBEDDER=minilm``, the default: one text per call,
texts side by side, the down projections in float32), every product in int8 (``minilm-int8-all``), and float32
products (``minilm-fp32``, in padded batches of ``--batch``), each after a warm-up, and prints wall
seconds, this process's CPU seconds (ONNX Runtime's threads included), passages/s and tokens/s for
each, the ratios to float32, and the cosine of each one's vectors to the float32 ones.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from docrag.providers.minilm_onnx import Compute, MiniLMEmbedder
from docrag.text.tokenizer import count_tokens


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="0: ONNX Runtime's choice (the cores)")
    parser.add_argument("--batch", type=int, default=8, help="float32's batch size (DOCRAG_EMBED_BATCH_SIZE)")
    args = parser.parse_args()
    texts = []
    with args.corpus.open() as f:
        for line in f:
            entry = json.loads(line)
            texts.append(f"{entry.get('title', '')}. {entry['text']}")
            if len(texts) == args.n:
                break
    tokens = sum(min(256, count_tokens(t)) for t in texts)
    vectors: dict[Compute, np.ndarray] = {}
    figures: dict[Compute, dict[str, float]] = {}
    for compute in ("float32", "int8", "int8-all"):
        embedder = MiniLMEmbedder(batch_size=args.batch, threads=args.threads, compute=compute)
        embedder.embed_batch(texts[:16])  # load the sessions, warm the kernels
        cpu, wall = cpu_seconds(), time.perf_counter()
        vectors[compute] = embedder.embed_batch(texts)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
        figures[compute] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
        print(
            json.dumps(
                {
                    "compute": compute,
                    "model_id": embedder.model_id,
                    "passages": len(texts),
                    "mean_tokens": round(tokens / len(texts), 1),
                    **figures[compute],
                    "passages_per_s": round(len(texts) / wall, 1),
                    "tokens_per_s": round(tokens / wall),
                    "passages_per_cpu_s": round(len(texts) / cpu, 1),
                }
            ),
            flush=True,
        )
    for compute in ("int8", "int8-all"):
        cosines = (vectors[compute] * vectors["float32"]).sum(axis=1)
        print(
            json.dumps(
                {
                    "compute": compute,
                    "speedup_wall_over_float32": round(
                        figures["float32"]["wall_s"] / figures[compute]["wall_s"], 2
                    ),
                    "speedup_cpu_over_float32": round(
                        figures["float32"]["cpu_s"] / figures[compute]["cpu_s"], 2
                    ),
                    "cosine_to_float32": {
                        "min": round(float(cosines.min()), 4),
                        "mean": round(float(cosines.mean()), 4),
                    },
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
