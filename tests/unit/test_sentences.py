"""Rule-based sentence splitter: offsets, boundaries, abbreviations, caps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docrag.text.sentences import split_sentences


def texts(text: str, **kwargs: int) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text, **kwargs)]


def test_basic_boundaries() -> None:
    assert texts("It rained. Then it stopped! Did it? Yes.") == [
        "It rained.",
        "Then it stopped!",
        "Did it?",
        "Yes.",
    ]


def test_no_split_before_lowercase() -> None:
    assert texts("The value was 5. and then it fell. Next.") == [
        "The value was 5. and then it fell.",
        "Next.",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "Dr. Smith and Mr. Jones met Mrs. Brown and Ms. White.",
        "Prof. Lee cites Fig. 3 and Figs. 4 and 5 of the paper.",
        "This holds, e.g. In Germany, and i.e. Where it applies.",
        "Smith et al. Reported the effect in 2020.",
        "The U.S. Government and Acme Inc. Reported losses.",
        "Item No. 5 costs approx. 3 dollars vs. 4 elsewhere.",
        "See Sec. 2.1 for the proof, cf. Theorem 3.",
        "St. Louis and Jr. Members joined Ltd. Companies.",
        "J. R. R. Tolkien wrote it.",
        "The ruling in Brown v. Board of Education ended it.",
        "Pi is about 3.14159 and e is 2.718 in value.",
    ],
)
def test_abbreviations_initials_decimals_do_not_split(sentence: str) -> None:
    assert texts(sentence) == [sentence]


def test_etc_followed_by_lowercase_does_not_split() -> None:
    assert texts("Apples, pears, etc. are fruit. They grow.") == [
        "Apples, pears, etc. are fruit.",
        "They grow.",
    ]


def test_closing_quotes_brackets_and_citation_markers() -> None:
    assert texts('He said "Stop." Then he left. (It was late.) "Why?" She asked.') == [
        'He said "Stop."',
        "Then he left.",
        "(It was late.)",
        '"Why?"',
        "She asked.",
    ]
    assert texts("As shown before.[12] Next claim.") == ["As shown before.[12]", "Next claim."]


def test_digit_after_period_splits_but_not_numbering() -> None:
    assert texts("We ran it twice. 3 runs failed.") == ["We ran it twice.", "3 runs failed."]
    assert texts("1. Introduction to the topic") == ["1. Introduction to the topic"]


def test_newlines_split_lines_and_whitespace_is_excluded() -> None:
    text = "  row one | a\n\n  row two | b  \nlast line. Second sentence.  "
    assert texts(text) == ["row one | a", "row two | b", "last line.", "Second sentence."]


def test_offsets_are_absolute_and_respect_start_end() -> None:
    text = "Ignore this. Alpha beta. Gamma delta. Ignore that."
    start = text.index("Alpha")
    end = text.index(" Ignore that")
    spans = split_sentences(text, start, end)
    assert [text[a:b] for a, b in spans] == ["Alpha beta.", "Gamma delta."]
    assert spans[0][0] == start


def test_empty_and_blank() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n  ") == []


def test_long_sentence_is_capped_at_separators() -> None:
    clause = "the quick brown fox jumps over the lazy dog"
    text = "; ".join([clause] * 40) + "."
    spans = split_sentences(text, max_chars=200)
    assert len(spans) > 1
    assert all(b - a <= 200 for a, b in spans)
    assert all(text[b - 1] in ";." for a, b in spans)
    words = "".join(text[a:b] for a, b in spans).replace(" ", "")
    assert words == text.replace(" ", "")


def test_long_sentence_without_separators_cut_at_spaces() -> None:
    text = " ".join(["word"] * 500)
    spans = split_sentences(text, max_chars=100)
    assert all(b - a <= 100 for a, b in spans)
    assert sum(text[a:b].count("word") for a, b in spans) == 500


def test_giant_token_left_whole() -> None:
    text = "x" * 5000
    assert split_sentences(text, max_chars=100) == [(0, 5000)]


def test_fast_enough() -> None:
    import time

    abstract = (
        "Background: Dr. Smith et al. studied 3.5 mg doses in the U.S. population. "
        "Methods: We enrolled 120 patients (Fig. 1). Results were significant, e.g. a 20% drop. "
        "Conclusions: The drug works! Further trials are needed? Yes. "
    ) * 3
    began = time.perf_counter()
    for _ in range(2000):
        split_sentences(abstract)
    assert time.perf_counter() - began < 2.0


@given(st.text(alphabet=st.sampled_from(list('ab .!?\n"()A1,;')), max_size=300), st.integers(5, 50))
def test_property_spans_ordered_stripped_and_cover(text: str, max_chars: int) -> None:
    spans = split_sentences(text, max_chars=max_chars)
    previous_end = 0
    covered = [False] * len(text)
    for a, b in spans:
        assert previous_end <= a < b <= len(text)
        assert not text[a].isspace() and not text[b - 1].isspace()
        assert "\n" not in text[a:b]
        for i in range(a, b):
            covered[i] = True
        previous_end = b
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))
