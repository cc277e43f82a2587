from __future__ import annotations

import numpy as np

from docrag.providers.minilm_onnx import Compute, MiniLMEmbedder
from docrag.providers.protocol import warm_up, warm_up_ingestion
from docrag.text.tokenizer import count_tokens, load_tokenizer


def test_vectors_are_unit_length_and_semantic() -> None:
    e = MiniLMEmbedder(batch_size=2)
    v = e.embed_batch(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl carries a baby."]
    )
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    # Reference all-MiniLM-L6-v2 similarity of the first pair is 0.755; int8 weights stay close.
    assert abs(float(v[0] @ v[1]) - 0.755) < 0.02
    assert v[0] @ v[1] > v[0] @ v[2] + 0.5


def test_batching_does_not_change_vectors() -> None:
    texts = ["short", "a somewhat longer sentence about the sea and ships", "mid length text here"]
    one = MiniLMEmbedder(batch_size=1, compute="float32").embed_batch(texts)
    many = MiniLMEmbedder(batch_size=8, compute="float32").embed_batch(texts)
    assert np.allclose(one, many, atol=1e-4)


def test_a_short_text_is_not_padded_to_a_long_ones_length() -> None:
    """A document's full chunk and its short tail go to the model apart (padding costs as much
    as real tokens), texts of near length together; the vectors are the same either way. (The
    float32 products: the int8 ones take one text per call, below.)"""
    e = MiniLMEmbedder(batch_size=8, compute="float32")
    texts = ["word " * 200, "a short tail chunk.", "word " * 190, "another short tail."]
    batches = e._batches(load_tokenizer().encode_batch(texts))
    assert sorted(sorted(b) for b in batches) == [[0, 2], [1, 3]]
    together = e.embed_batch(texts)
    apart = np.stack([e.embed_batch([t])[0] for t in texts])
    assert np.allclose(together, apart, atol=1e-4)


def test_span_vectors_follow_their_sentence() -> None:
    e = MiniLMEmbedder()
    text = "Cats purr when they are content. The stock market fell sharply on Monday."
    cut = text.index(" The") + 1
    (p,) = e.embed_passages([text], [[(0, cut - 1), (cut, len(text))]])
    assert p.span_vectors.shape == (2, 384)
    cats, market = e.embed_batch(["Cats purr when they are happy.", "Stocks dropped on Monday."])
    assert p.span_vectors[0] @ cats > p.span_vectors[0] @ market
    assert p.span_vectors[1] @ market > p.span_vectors[1] @ cats


def test_tokenizer_is_not_truncated_at_128() -> None:
    long_text = "word " * 400
    assert count_tokens(long_text) == 402
    assert len(load_tokenizer().encode(long_text).ids) == 256


def test_small_calls_run_single_threaded_with_the_same_vectors() -> None:
    """A query (a small call) runs on the single-threaded session and a large batch on the
    threaded one (float32 products); a text's vector doesn't depend on which."""
    e = MiniLMEmbedder(batch_size=8, compute="float32")
    query = "what protects the harbour from storms"
    alone = e.embed_batch([query])[0]
    assert e._single is not None and e._model is None
    # Same-length texts go to the model together: 8 of them are past the small-call size.
    batch = e.embed_batch([query] + ["word " * 120] * 8)
    assert e._model is not None
    assert np.allclose(alone, batch[0], atol=1e-4)


def test_a_large_int8_call_runs_its_texts_side_by_side_on_the_single_threaded_session() -> None:
    e = MiniLMEmbedder(batch_size=8, compute="int8")
    query = "what protects the harbour from storms"
    alone = e.embed_batch([query])[0]
    texts = [query] + [f"sentence number {n} about the harbour walls " * 12 for n in range(8)]
    batch = e.embed_batch(texts)
    assert e._model is None and e._executor is not None  # no threaded session: texts ran side by side
    np.testing.assert_array_equal(alone, batch[0])
    np.testing.assert_array_equal(batch[3], e.embed_batch([texts[3]])[0])


def test_int8_products_take_one_text_per_call_so_a_vector_is_its_texts_alone() -> None:
    """The int8 products quantize a call's activations with one range: batched with a long text
    full of other words, a short text would get another vector. Each goes alone."""
    e = MiniLMEmbedder(batch_size=8, compute="int8")
    texts = ["word " * 200, "a short tail chunk.", "word " * 190, "another short tail."]
    assert sorted(e._batches(load_tokenizer().encode_batch(texts))) == [[0], [1], [2], [3]]
    together = e.embed_batch(texts)
    apart = np.stack([e.embed_batch([t])[0] for t in texts])
    np.testing.assert_array_equal(together, apart)


def test_no_texts_no_model_call() -> None:
    computes: tuple[Compute, ...] = ("int8", "int8-all", "float32")
    for compute in computes:
        e = MiniLMEmbedder(compute=compute)
        assert e.embed_passages([], []) == []
        assert e.embed_batch([]).shape == (0, 384)


def test_warming_up_for_ingestion_opens_what_an_upload_uses() -> None:
    """A worker warms its model before its first job (``docrag worker``): an upload's call then
    opens nothing more. A query process's warm-up opens only the small calls' session."""
    upload = ["Tides rise and fall twice a day, pulled by the moon and the sun. " * 12] * 3
    computes: tuple[Compute, ...] = ("int8", "float32")
    for compute in computes:
        e = MiniLMEmbedder(compute=compute)
        warm_up(e)
        assert e._single is not None and e._model is None and e._executor is None
        warm_up_ingestion(e)
        opened = (e._model, e._single, e._executor)
        assert any(x is not None for x in (e._model, e._executor))  # more than the query path
        e.embed_passages(upload, [[]] * len(upload))
        assert (e._model, e._single, e._executor) == opened, compute
