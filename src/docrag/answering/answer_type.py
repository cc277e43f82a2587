"""What kind of answer a question asks for, and whether a sentence can hold one.

A question that asks "when" or "in what year" is answered by a sentence with a date or a
number in it, "how many" by one with a number (digits or a number word), "who" by one that
names someone the question doesn't already name. The extractive answerer lowers the score of
a sentence that cannot hold the kind of answer asked for; it never raises one, so a question
of no recognised kind is ranked as before.
"""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(Enum):
    TIME = "time"
    NUMBER = "number"
    PERSON = "person"


_TIME = re.compile(r"\bwhen\b|\b(?:what|which) (?:year|century|decade|date)\b", re.I)
_NUMBER = re.compile(
    r"\bhow (?:many|much|long|old|far|large|big|tall|high|fast)\b"
    r"|\bwhat (?:percentage|percent|number|amount|proportion)\b",
    re.I,
)
_PERSON = re.compile(r"\b(?:who|whom|whose)\b", re.I)
_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d[\d,.]*")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty thirty"
    " forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands million millions"
    " billion billions dozen dozens half once twice".split()
)


def expected(question: str) -> AnswerType | None:
    """The kind of answer ``question`` asks for, or None when it asks for no particular kind."""
    if _TIME.search(question):
        return AnswerType.TIME
    if _NUMBER.search(question):
        return AnswerType.NUMBER
    if _PERSON.search(question):
        return AnswerType.PERSON
    return None


def can_hold(kind: AnswerType | None, sentence: str, question: str) -> bool:
    """Whether ``sentence`` contains something of the ``kind`` asked for."""
    if kind is None:
        return True
    words = _WORD.findall(sentence)
    if kind is AnswerType.PERSON:
        # A capitalised word past the first that the question does not hold: a name it adds.
        asked = {w.lower() for w in _WORD.findall(question)}
        return any(w[0].isupper() and w.lower() not in asked for w in words[1:])
    # Dates and numbers alike: digits, or a number word ("four", "twice", "hundreds").
    return any(w[0].isdigit() or w.lower() in _NUMBER_WORDS for w in words)
