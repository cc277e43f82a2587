"""Answerability features, the logistic fit, the split by article and the abstention reasons."""

from __future__ import annotations

import numpy as np

from docrag.answering.answerability import (
    NO_CLOSE_PASSAGE,
    ON_TOPIC_NOT_ANSWERED,
    Model,
    decide,
    features,
    fit,
    split_by_article,
    tradeoff,
)

PASSAGE = (
    "The Eiffel Tower stands in Paris. The Eiffel Tower was built for a fair. "
    "The Eiffel Tower opened in 1889. The Eiffel Tower is made of iron."
)


def test_expected_type_and_focus_terms_separate_an_answer_from_an_on_topic_sentence() -> None:
    q = "When did the Eiffel Tower open?"
    answer = features(q, "The Eiffel Tower opened in 1889.", 0.6, 0.5, PASSAGE)
    on_topic = features(q, "The Eiffel Tower is made of iron.", 0.6, 0.5, PASSAGE)
    assert answer[1] == 1.0 and on_topic[1] == 0.0  # a date is held / not held
    assert answer[2] > on_topic[2]  # "open" is a focus term, "eiffel tower" is the subject
    assert answer[4] == np.float64(0.6) - np.float64(0.5)


def test_fit_learns_a_separable_rule_and_round_trips(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = (x[:, 1] + x[:, 2] > 0).astype(float)
    model = fit(x, y)
    p = np.array([model.probability(row) for row in x])
    assert ((p >= 0.5) == (y == 1)).mean() > 0.95
    path = tmp_path / "w.json"
    path.write_text(model.to_json())
    assert Model.load(path).probability(x[0]) == model.probability(x[0])


def test_split_by_article_never_splits_an_article() -> None:
    articles = [i // 10 for i in range(200)]
    test = split_by_article(articles, test_share=0.3)
    test_articles = {a for a, t in zip(articles, test, strict=True) if t}
    train_articles = {a for a, t in zip(articles, test, strict=True) if not t}
    assert test_articles and train_articles and not test_articles & train_articles
    assert len(test_articles) == 6


def test_decide_gives_the_reason() -> None:
    assert decide(0.1, 0.9, close=0.3, answers=0.5) == NO_CLOSE_PASSAGE
    assert decide(0.6, 0.2, close=0.3, answers=0.5) == ON_TOPIC_NOT_ANSWERED
    assert decide(0.6, 0.7, close=0.3, answers=0.5) is None


def test_tradeoff_shares() -> None:
    rows = tradeoff([0.9, 0.8, 0.2, 0.6], [True, True, False, False], [0.5, 0.7])
    assert rows[0] == {"threshold": 0.5, "answered_of_answerable": 1.0, "abstained_of_unanswerable": 0.5}
    assert rows[1] == {"threshold": 0.7, "answered_of_answerable": 1.0, "abstained_of_unanswerable": 1.0}
