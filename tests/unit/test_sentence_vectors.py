"""The dense leg's sentence scores: decoding float16 through the table and scoring chunks read in
separate batches give exactly what numpy's own cast of all the candidates' rows, in one matrix
product, gives (one product: BLAS may round a row's dot product differently in a smaller matrix)."""

from __future__ import annotations

import numpy as np

from docrag.retrieval.sentences import SentenceVectors, decode


def test_decode_is_numpys_cast_for_every_float16_value() -> None:
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    decoded = decode(halves.tobytes(), 256)
    expected = halves.astype(np.float32).reshape(-1, 256)
    # Bit for bit: NaNs compare by their bits, and -0.0 stays -0.0.
    assert np.array_equal(decoded.view(np.uint32), expected.view(np.uint32))


def test_best_sentence_of_chunks_read_in_two_batches() -> None:
    rng = np.random.default_rng(7)
    dim = 16
    stored = {
        chunk_id: rng.standard_normal((count, dim)).astype(np.float16)
        for chunk_id, count in [(1, 3), (2, 1), (3, 5), (4, 2), (5, 4)]
    }
    known = SentenceVectors(dim)
    known.add([1, 2, 6], {c: stored[c].tobytes() for c in (1, 2)})  # 6: a chunk without vectors
    assert known.missing([3, 1, 6, 4]) == [3, 4]
    known.add([3, 4, 5], {c: stored[c].tobytes() for c in (3, 4, 5)})
    vector = rng.standard_normal(dim).astype(np.float32)
    best = known.best([5, 6, 2, 3, 1], vector)
    assert list(best) == [5, 2, 3, 1]
    similarities = np.concatenate([stored[c] for c in best]).astype(np.float32) @ vector
    ends = np.cumsum([len(stored[c]) for c in best])
    for chunk_id, end in zip(best, ends, strict=True):
        start = end - len(stored[chunk_id])
        assert best[chunk_id] == float(np.max(similarities[start:end]))
    assert known.blobs[6] is None and known.best([6], vector) == {}
