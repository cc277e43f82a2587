"""The conformance suite of the answer records protocol (``AnswerRecords``, src/docrag/store/protocol.py),
in the style of tests/support/store_conformance.py: written against fixtures only.

Fixtures a backend provides, besides that module's ``tenants``: ``answer_records``, its records;
``raters``: two API key ids of the first tenant, who may rate its answers.
"""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from docrag.domain import Answer, AnswerSentence
from docrag.errors import NotFound
from docrag.store.protocol import AnswerRecords


def answer(question: str, text: str = "", *, answered: bool = True) -> Answer:
    """An answer of one sentence (no citations: no document is involved)."""
    text = text or f"The answer to {question}"
    sentences = (AnswerSentence(text, (), 0.75, support=0.5, supported=True),) if answered else ()
    return Answer(
        question=question,
        answered=answered,
        text=text if answered else "",
        sentences=sentences,
        reason=None if answered else "no_relevant_passages",
        generator="conformance",
    )


class AnswerRecordsSuite:
    def test_a_saved_answer_reads_back_as_it_was_given(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        stored = answer_records.save(
            a,
            answer("what rises?", "Bread rises."),
            resolved_question="what rises?",
            collections=["kb", "faq"],
        )
        assert (stored.question, stored.resolved_question, stored.answer) == (
            "what rises?",
            "what rises?",
            "Bread rises.",
        )
        assert (stored.answered, stored.reason, stored.generator) == (True, None, "conformance")
        assert (stored.conversation_id, stored.turn, stored.collections) == (None, None, ("kb", "faq"))
        [sentence] = stored.sentences
        assert (sentence["text"], sentence["score"], sentence["verdict"]) == (
            "Bread rises.",
            0.75,
            "supported",
        )
        assert not stored.source_deleted
        assert answer_records.get(a, stored.id) == stored

    def test_an_abstention_is_kept_with_its_reason(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        stored = answer_records.save(
            a, answer("unknowable?", answered=False), resolved_question="unknowable?", collections=[]
        )
        got = answer_records.get(a, stored.id)
        assert (got.answered, got.reason, got.answer, got.sentences) == (
            False,
            "no_relevant_passages",
            "",
            (),
        )

    def test_a_conversation_numbers_its_turns_and_keeps_them_in_order(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = answer_records.create_conversation(a, "Baking")
        assert (made.title, made.turns) == ("Baking", ())
        saved = [
            answer_records.save(
                a, answer(q), resolved_question=q, collections=["kb"], conversation_id=made.id
            )
            for q in ("first?", "second?", "third?")
        ]
        assert [(s.conversation_id, s.turn) for s in saved] == [(made.id, 1), (made.id, 2), (made.id, 3)]
        whole = answer_records.conversation(a, made.id)
        assert (whole.id, whole.title) == (made.id, "Baking")
        assert [t.question for t in whole.turns] == ["first?", "second?", "third?"]
        assert whole.turns == tuple(saved)

    def test_history_is_the_last_turns_oldest_first(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        made = answer_records.create_conversation(a, None)
        for q in ("one?", "two?", "three?", "four?"):
            answer_records.save(a, answer(q), resolved_question=q, collections=[], conversation_id=made.id)
        assert [t.question for t in answer_records.history(a, made.id, 2)] == ["three?", "four?"]
        assert [t.turn for t in answer_records.history(a, made.id, 10)] == [1, 2, 3, 4]
        assert answer_records.history(a, answer_records.create_conversation(a, None).id, 5) == []

    def test_unknown_ids_are_not_found(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        nobody = uuid.uuid4()
        for attempt, code in (
            (lambda: answer_records.conversation(a, nobody), "conversation_not_found"),
            (lambda: answer_records.history(a, nobody, 3), "conversation_not_found"),
            (
                lambda: answer_records.save(
                    a, answer("lost?"), resolved_question="lost?", collections=[], conversation_id=nobody
                ),
                "conversation_not_found",
            ),
            (lambda: answer_records.get(a, nobody), "answer_not_found"),
            (lambda: answer_records.rate(a, nobody, None, "up", None), "answer_not_found"),
        ):
            with pytest.raises(NotFound) as caught:
                attempt()
            assert caught.value.code == code

    def test_a_rater_rates_once_and_may_change_its_mind(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID], raters: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        first, second = raters
        stored = answer_records.save(a, answer("rated?"), resolved_question="rated?", collections=[])
        up = answer_records.rate(a, stored.id, first, "up", "helpful")
        assert (up.answer_id, up.rating, up.comment) == (stored.id, "up", "helpful")
        changed = answer_records.rate(a, stored.id, first, "down", None)
        assert (changed.rating, changed.comment, changed.created_at) == ("down", None, up.created_at)
        answer_records.rate(a, stored.id, second, "up", None)
        summary = answer_records.summary(a)
        assert (summary.answers, summary.rated, summary.up, summary.down) == (1, 1, 1, 1)
        assert summary.satisfaction == 0.5

    def test_the_summary_counts_answers_rated_or_not(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID], raters: tuple[UUID, UUID]
    ) -> None:
        a, _ = tenants
        assert answer_records.summary(a).satisfaction is None  # a fresh tenant: nothing rated
        ids = [answer_records.save(a, answer(q), resolved_question=q, collections=[]).id for q in "xyz"]
        answer_records.rate(a, ids[0], raters[0], "up", None)
        answer_records.rate(a, ids[1], raters[0], "up", None)
        summary = answer_records.summary(a)
        assert (summary.answers, summary.rated, summary.up, summary.down, summary.satisfaction) == (
            3,
            2,
            2,
            0,
            1.0,
        )

    def test_nothing_crosses_tenants(
        self, answer_records: AnswerRecords, tenants: tuple[UUID, UUID], raters: tuple[UUID, UUID]
    ) -> None:
        a, b = tenants
        conversation = answer_records.create_conversation(a, "Ours")
        stored = answer_records.save(
            a, answer("ours?"), resolved_question="ours?", collections=[], conversation_id=conversation.id
        )
        answer_records.rate(a, stored.id, raters[0], "up", None)
        for attempt in (
            lambda: answer_records.conversation(b, conversation.id),
            lambda: answer_records.history(b, conversation.id, 5),
            lambda: answer_records.get(b, stored.id),
            lambda: answer_records.rate(b, stored.id, None, "down", None),
            lambda: answer_records.save(
                b,
                answer("theirs?"),
                resolved_question="theirs?",
                collections=[],
                conversation_id=conversation.id,
            ),
        ):
            with pytest.raises(NotFound):
                attempt()
        summary = answer_records.summary(b)
        assert (summary.answers, summary.rated, summary.up, summary.down) == (0, 0, 0, 0)
        assert [t.id for t in answer_records.conversation(a, conversation.id).turns] == [stored.id]
        assert answer_records.summary(a).up == 1
