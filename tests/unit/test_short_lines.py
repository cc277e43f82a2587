"""A long text of many short lines is chunked by size, without a model pass over every line
(issue 19 point 6: a 450 KB log took minutes to embed). Its speed is measured by
bench/parse_throughput.py; here, which path the chunker takes."""

from __future__ import annotations

from typing import Any

import numpy as np

from docrag.ingest.chunking import chunk_document
from docrag.ingest.parsers import parse


class CountingEmbed:
    """Unit vectors that differ by the text's first word; counts the texts it was asked for."""

    def __init__(self) -> None:
        self.texts = 0

    def __call__(self, texts: list[str]) -> np.ndarray[Any, Any]:
        self.texts += len(texts)
        vectors = np.array([[1.0, (hash(t.split()[0]) % 5) / 5.0, 0.5] for t in texts])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def lines(n: int) -> bytes:
    topics = ["disk full on node", "user login failed", "queue drained", "cache warmed"]
    return "\n".join(f"2026-01-{i % 28 + 1:02d} INFO {topics[i // 50 % 4]} {i}" for i in range(n)).encode()


def test_many_short_lines_skip_the_sentence_embedding() -> None:
    embed = CountingEmbed()
    doc = parse(lines(3000), "records.txt")
    drafts = chunk_document(doc, mode="semantic", embed=embed)
    assert embed.texts == 0
    assert drafts == chunk_document(doc, mode="structural")
    # Every line is in exactly one chunk, in order.
    assert "\n".join(d.body for d in drafts).splitlines() == doc.text.splitlines()


def test_a_shorter_section_still_gets_semantic_cuts() -> None:
    embed = CountingEmbed()
    doc = parse(lines(400), "records.txt")
    chunk_document(doc, mode="semantic", embed=embed)
    assert embed.texts == 400  # one vector per line, to place the cuts
