"""Embedding throughput of the bundled model on this machine.

    python bench/embed_throughput.py --corpus ../shared/data/scifact/corpus.jsonl --n 512

Embeds passages of the corpus (title + text, chunked as ingestion does) and prints
passages/s and tokens/s for a few batch sizes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from docrag.providers.minilm_onnx import MiniLMEmbedder
from docrag.text.tokenizer import count_tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    texts = []
    with args.corpus.open() as f:
        for line in f:
            entry = json.loads(line)
            texts.append(f"{entry.get('title', '')}\n{entry['text']}")
            if len(texts) == args.n:
                break
    tokens = sum(min(256, count_tokens(t)) for t in texts)
    for batch in (8, 32, 64):
        embedder = MiniLMEmbedder(batch_size=batch, threads=args.threads)
        embedder.warm_up()
        t0 = time.perf_counter()
        embedder.embed_batch(texts)
        dt = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "batch": batch,
                    "passages": len(texts),
                    "mean_tokens": round(tokens / len(texts), 1),
                    "passages_per_s": round(len(texts) / dt, 1),
                    "tokens_per_s": round(tokens / dt),
                }
            )
        )


if __name__ == "__main__":
    main()
