"""The cache codec: an Answer with everything it can hold survives JSON both ways, and what is
not one is refused with ValueError (never half-built, never unpickled)."""

from __future__ import annotations

import json
import uuid

import pytest

from docrag.answering.cached_search import CachedHits
from docrag.cache import codec
from docrag.domain import Answer, AnswerSentence, Citation, Hit, Sentence


def _answer() -> Answer:
    doc, coll = uuid.uuid4(), uuid.uuid4()
    cite = Citation(doc, "Kettles", 7, 3, "Descale monthly.", 10, 26, ("Care", "Descaling"), 2)
    hit = Hit(
        7,
        doc,
        coll,
        "Kettles",
        0,
        0,
        40,
        "Descale monthly. Use citric acid.",
        ("Care",),
        3,
        4,
        0.8,
        dense_score=0.7,
        lexical_score=None,
        rerank_score=1.5,
        document_version=2,
        sentences=(Sentence(0, 16, 3), Sentence(17, 33, None)),
    )
    sentence = AnswerSentence("Descale monthly.", (cite,), 0.91, support=0.97, supported=True)
    return Answer("How often?", True, "Descale monthly.", (sentence,), (hit,), None, "extractive", 0.61)


def test_an_answer_round_trips_with_its_types() -> None:
    original = _answer()
    back = codec.loads(Answer, codec.dumps(original))
    assert back == original
    assert isinstance(back.sentences[0].citations[0].document_id, uuid.UUID)
    assert isinstance(back.passages[0].heading_path, tuple)


def test_cached_search_hits_round_trip_with_their_sentences() -> None:
    original = CachedHits(_answer().passages)
    back = codec.loads(CachedHits, codec.dumps(original))
    assert back == original
    assert back.hits[0].sentences == (Sentence(0, 16, 3), Sentence(17, 33, None))


def test_hits_cached_before_they_carried_sentences_still_load() -> None:
    data = json.loads(codec.dumps(CachedHits(_answer().passages)))
    del data["hits"][0]["sentences"]
    assert codec.loads(CachedHits, json.dumps(data).encode()).hits[0].sentences == ()


def test_an_abstention_with_no_sentences_round_trips() -> None:
    original = Answer("Who?", False, "", (), (), "no_passage_close_enough")
    assert codec.loads(Answer, codec.dumps(original)) == original


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("sentences"),
        lambda d: d.update(answered="maybe"),
        lambda d: d["sentences"][0]["citations"][0].update(document_id="not-a-uuid"),
    ],
)
def test_what_is_not_an_answer_is_refused(damage: object) -> None:
    data = json.loads(codec.dumps(_answer()))
    damage(data)  # type: ignore[operator]
    with pytest.raises(ValueError, match="not a cached Answer"):
        codec.loads(Answer, json.dumps(data).encode())


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(ValueError):
        codec.loads(Answer, b"\x80\x04not json")
