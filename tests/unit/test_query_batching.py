from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from docrag.errors import Unavailable
from docrag.providers.batching import BatchingEmbedder
from docrag.providers.minilm_onnx import MiniLMEmbedder
from docrag.providers.onnx_directory import OnnxDirectoryEmbedder


def _together(embedder: BatchingEmbedder, texts: list[str]) -> list[np.ndarray]:
    """Each text from its own thread, all released at once."""
    start = threading.Barrier(len(texts))

    def one(text: str) -> np.ndarray:
        start.wait()
        return embedder.embed_batch([text])

    with ThreadPoolExecutor(len(texts)) as pool:
        return list(pool.map(one, texts))


def test_concurrent_queries_share_model_calls_and_each_gets_its_own_vector() -> None:
    model = MiniLMEmbedder()
    texts = [
        f"question {n}: what does section {n} say about {'ships' if n % 2 else 'trees'}" for n in range(24)
    ]
    batched = BatchingEmbedder(model, max_batch=8)
    try:
        got = _together(batched, texts)
    finally:
        batched.close()
    alone = np.stack([model.embed_batch([t])[0] for t in texts])
    for n, vectors in enumerate(got):
        assert vectors.shape == (1, 384)
        assert np.allclose(vectors[0], alone[n], atol=1e-4), n
    assert batched.queries == 24
    assert batched.calls < 24  # queries that arrived together went in one call
    assert batched.calls >= 3  # never more than max_batch at once


def test_batches_of_texts_go_straight_to_the_model() -> None:
    batched = BatchingEmbedder(MiniLMEmbedder())
    vectors = batched.embed_batch(["one passage", "another passage"])
    batched.close()
    assert vectors.shape == (2, 384)
    assert batched.calls == 0


def test_every_caller_gets_the_models_error(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    broken = BatchingEmbedder(OnnxDirectoryEmbedder(tmp_path), max_batch=4)
    start = threading.Barrier(6)

    def one(n: int) -> BaseException | None:
        start.wait()
        try:
            broken.embed_batch([f"query {n}"])
        except Unavailable as exc:
            return exc
        return None

    with ThreadPoolExecutor(6) as pool:
        errors = list(pool.map(one, range(6)))
    broken.close()
    assert all(isinstance(e, Unavailable) for e in errors)


def test_after_close_queries_still_run_unbatched() -> None:
    before = set(threading.enumerate())
    batched = BatchingEmbedder(MiniLMEmbedder())
    first = batched.embed_batch(["a query"])
    # Its own batching thread: other tests' runtimes in this process may have theirs running.
    (thread,) = [t for t in threading.enumerate() if t.name == "docrag-query-batcher" and t not in before]
    batched.close()
    assert not thread.is_alive()
    again = batched.embed_batch(["a query"])
    assert np.allclose(first, again, atol=1e-6)
    assert batched.calls == 1


def test_max_batch_one_is_off() -> None:
    batched = BatchingEmbedder(MiniLMEmbedder(), max_batch=1)
    batched.embed_batch(["a query"])
    batched.close()
    assert batched.calls == 0
