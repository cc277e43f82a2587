"""The kind of answer a question asks for, and the extractive answerer's use of it and of the
previous sentence as context: unit checks, then the real answer path over HTTP."""

from __future__ import annotations

import httpx
import pytest

from api_calls import upload
from docrag.answering.answer_type import AnswerType, can_hold, expected

# One server for the session: the tests use collections of their own.
pytestmark = pytest.mark.shared_server


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did the war end?", AnswerType.TIME),
        ("In what year was the bridge opened?", AnswerType.TIME),
        ("Which century saw the first printing press?", AnswerType.TIME),
        ("How many moons does Mars have?", AnswerType.NUMBER),
        ("What percentage of voters turned out?", AnswerType.NUMBER),
        ("How tall is Etna?", AnswerType.NUMBER),
        ("Who discovered polonium?", AnswerType.PERSON),
        ("The law was signed by whom?", AnswerType.PERSON),
        ("What does the enzyme do?", None),
        ("Why is the second timeline needed?", None),
    ],
)
def test_expected_kind(question: str, kind: AnswerType | None) -> None:
    assert expected(question) is kind


def test_numbers_and_dates_are_digits_or_number_words() -> None:
    assert can_hold(AnswerType.NUMBER, "Mars has two small moons.", "How many moons?")
    assert can_hold(AnswerType.TIME, "The bridge opened in 1932.", "When did it open?")
    assert not can_hold(AnswerType.NUMBER, "Mars has small moons.", "How many moons?")
    assert not can_hold(AnswerType.TIME, "The bridge opened late.", "When did it open?")


def test_a_person_is_a_name_the_question_does_not_hold() -> None:
    question = "Who wrote about Shelley?"
    assert can_hold(AnswerType.PERSON, "The essay by Henry Thoreau quotes him.", question)
    assert not can_hold(AnswerType.PERSON, "Poems by Shelley were widely read.", question)
    # The first word is capitalised because it starts the sentence, not because it is a name.
    assert not can_hold(AnswerType.PERSON, "Several poets admired him.", question)
    assert can_hold(None, "Anything at all.", question)


BORTE = b"""# Borte

Borte was the first wife of Temujin, and Jochi was her son.
She gave birth to a son, Jochi, in 1185, nine months after her rescue.
Jochi later led armies in the west.
"""


def test_the_answer_sentence_names_its_subject_only_by_a_pronoun(client: httpx.Client) -> None:
    """The first sentence matches the question more closely in meaning; the second holds the
    year and names Borte only as "she". The asked-for kind (a year) and the first sentence
    read as the second's context pick the second."""
    response = upload(client, "answer-kinds", "borte.md", BORTE)
    assert response.status_code == 201, response.text
    answer = client.post(
        "/v1/ask",
        json={"question": "In what year did Borte give birth to Jochi?", "collections": ["answer-kinds"]},
    ).json()
    assert answer["answered"] is True
    assert "1185" in answer["sentences"][0]["text"]


APOLLO = b"""# Apollo 1

The plugs-out test of Apollo 1 began on the morning of January 27, 1967, and from the first \
the crew encountered problems.
They noticed a strange odor in their spacesuits, which delayed the sealing of the hatch.
Then communication failures frustrated the crew and the controllers.

## Earlier tests

An earlier plugs-in test with the crew ran in December.
"""


def test_the_sentence_after_the_best_match_carries_its_answer(client: httpx.Client) -> None:
    """The first sentence restates the question, the one after it answers it. That follower
    takes a share of its predecessor's lead, so it beats a sentence elsewhere that matches the
    question's words about as well but says nothing of the problem asked for."""
    response = upload(client, "answer-follow", "apollo.md", APOLLO)
    assert response.status_code == 201, response.text
    answer = client.post(
        "/v1/ask",
        json={
            "question": "What was the first problem the crew encountered during the plugs-out test?",
            "collections": ["answer-follow"],
        },
    ).json()
    assert answer["answered"] is True
    texts = [s["text"] for s in answer["sentences"]]
    assert texts[0].startswith("The plugs-out test")
    assert texts[1].startswith("They noticed a strange odor"), texts
