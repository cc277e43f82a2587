"""The hard unanswerable set: built from XQuAD English, no text left holding a gold answer."""

from __future__ import annotations

from collections import Counter

from ci_strict import needs
from docrag.eval.hard_unanswerable import hard_cases, load_paragraphs, sibling, without_sentence
from docrag.eval.xquad import contains, normalize
from paths import SHARED_DATA

XQUAD = SHARED_DATA / "xquad_en" / "xquad.en.json"


def test_without_sentence_drops_only_the_sentence_holding_the_offset() -> None:
    text = "Rome was founded long ago. It was founded in 753 BC by Romulus. Today it is a capital."
    assert without_sentence(text, text.index("753")) == "Rome was founded long ago. Today it is a capital."
    assert without_sentence(text, 0) == "It was founded in 753 BC by Romulus. Today it is a capital."


@needs(XQUAD.is_file(), f"the XQuAD data {XQUAD}")
def test_hard_cases_from_xquad_hold_no_gold_answer() -> None:
    articles, questions = load_paragraphs(XQUAD)
    cases = list(hard_cases(articles, questions))
    by_variant = Counter(c.variant for c in cases)
    # Every variant keeps most questions (a gold string may recur elsewhere in the article).
    for variant in ("paragraph", "sentence", "sibling"):
        assert by_variant[variant] > 0.5 * len(questions), by_variant
    for case in cases:
        assert not contains(case.text, case.answers)
        own = " ".join(" ".join(p.split()) for p in articles[case.article].paragraphs)
        if case.variant == "sibling":
            assert case.text != own
        else:
            assert len(case.text) < len(own)
    assert all(sibling(articles, a) != a for a in range(len(articles)))


def test_squad_normalisation_drops_case_ascii_punctuation_and_articles_only() -> None:
    assert normalize("The Cat's  hat, (an old one)!") == "cats hat old one"
    # Non-ASCII punctuation is not SQuAD's: it stays, as in the official script.
    assert normalize("“Théâtre” — ½") == "“théâtre” — ½"
    assert normalize("another theme") == "another theme"  # articles only as whole words
    assert contains("It was founded in 753 B.C.", ("753 BC",))
    assert not contains("It was founded in 1753.", ("753",))
