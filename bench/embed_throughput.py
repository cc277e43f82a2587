"""Embedding throughput of the bundled model on this machine, each way of computing it.

    python bench/embed_throughput.py --corpus ../shared/data/scifact/corpus.jsonl --n 256

Embeds ``--n`` passages of the corpus (title + text, truncated at the model's 256 tokens) with
the int8 products (``DOCRAG_EMBEDDER=minilm``, the default: one text per call, texts side by
side) and with the float32 ones (``minilm-fp32``, in padded batches of ``--batch``), each after
a warm-up, and prints wall seconds, this process's CPU seconds (ONNX Runtime's threads included),
passages/s and tokens/s for each, the ratio, and the cosine of the int8 vectors to the float32.
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
    for compute in ("float32", "int8"):
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
    cosines = (vectors["int8"] * vectors["float32"]).sum(axis=1)
    print(
        json.dumps(
            {
                "int8_speedup_wall": round(figures["float32"]["wall_s"] / figures["int8"]["wall_s"], 2),
                "int8_speedup_cpu": round(figures["float32"]["cpu_s"] / figures["int8"]["cpu_s"], 2),
                "cosine_int8_to_float32": {
                    "min": round(float(cosines.min()), 4),
                    "mean": round(float(cosines.mean()), 4),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
