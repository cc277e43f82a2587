from __future__ import annotations

import math

import numpy as np

from docrag.retrieval.fusion import minmax, rrf
from docrag.text.bm25 import BM25Index, tokenize


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert tokenize("The Running dogs ran!") == ["run", "dog", "ran"]


def test_bm25_matches_the_formula() -> None:
    texts = ["apple banana", "apple apple cherry", "banana cherry durian"]
    index = BM25Index([10, 11, 12], texts, k1=1.2, b=0.75)
    results = dict(index.search("apple", 10))
    assert set(results) == {10, 11}
    n, df, avg = 3, 2, (2 + 3 + 3) / 3
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))

    def score(tf: int, dl: int) -> float:
        return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avg))

    assert math.isclose(results[10], score(1, 2), rel_tol=1e-5)
    assert math.isclose(results[11], score(2, 3), rel_tol=1e-5)


def test_rare_terms_outweigh_common_ones() -> None:
    texts = ["common words here", "common words there", "common rare words"]
    index = BM25Index([1, 2, 3], texts)
    assert index.search("common rare", 3)[0][0] == 3
    assert index.search("nothing matches", 3) == []
    assert len(index.search("common", 2)) == 2


def test_fusions() -> None:
    a = [(1, 0.9), (2, 0.5), (3, 0.1)]
    b = [(3, 12.0), (4, 6.0)]
    assert [i for i, _ in rrf([a, b])][:1] == [3]
    fused = dict(minmax([a, b], [0.5, 0.5]))
    assert math.isclose(fused[3], 0.5 * 0.0 + 0.5 * 1.0)
    assert math.isclose(fused[1], 0.5)
    assert fused[4] == 0.0


def test_summed_term_rows_are_scipys_sum_bit_for_bit() -> None:
    """A query's scores add its terms' rows as scipy's ``m[terms].sum(axis=0)`` does (float32, term
    after term, a repeated term twice), so search results do not move with the implementation."""
    from scipy import sparse

    from docrag.text.bm25 import _sum_rows

    rng = np.random.default_rng(3)
    by_term = sparse.random(40, 5000, density=0.05, format="csr", dtype=np.float32, random_state=rng)
    by_term.data *= 10.0
    for terms in ([0], [3, 17, 3], [39, 1, 2, 4, 8, 16, 32], list(range(40))):
        expected = np.asarray(by_term[terms].sum(axis=0)).ravel()
        assert np.array_equal(_sum_rows(by_term, terms).view(np.uint32), expected.view(np.uint32))
