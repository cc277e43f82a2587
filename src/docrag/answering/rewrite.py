"""Follow-up questions, made standalone against the conversation before retrieval.

Deterministic and offline: "what did he do next?" has no words to retrieve by, so its pronoun
becomes the last answer's leading name ("what did Marie Curie do next?"); "the second one"
becomes the second name the last answer listed (in its first "A, B and C", if any); and a
follow-up that still shares no content word with the last question gets that question's
content words appended, as context. A question that reads as standalone is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docrag.domain.records import StoredAnswer
from docrag.text.bm25 import STOPWORDS, tokenize

_NAME = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of|de|da|van|von|la|le|del)?\s*[A-Z][\w'’-]*)*")
_ONE = r"[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*"
#: An enumeration: "Etna and Stromboli", "Rome, Paris or Vienna" (what "the second one" counts in).
_LIST = re.compile(rf"{_ONE}(?:,\s*{_ONE})*,?\s+(?:and|or)\s+{_ONE}")
_ORDINAL = re.compile(
    r"\bthe\s+(first|second|third|fourth|fifth|last|former|latter)(?:\s+(?:one|item|option|of them))?\b",
    re.IGNORECASE,
)
_ORDINALS = {
    "first": 0,
    "former": 0,
    "second": 1,
    "third": 2,
    "fourth": 3,
    "fifth": 4,
    "last": -1,
    "latter": -1,
}
_PRONOUN = re.compile(r"\b(he|she|him|it|they|them|his|its|their|her)\b", re.IGNORECASE)
_POSSESSIVE = {"his", "its", "their"}
_OPENER = re.compile(r"^\s*(?:and|but|also|so|then|what about|how about)\b", re.IGNORECASE)
_NOT_NAMES = frozenset(
    "i what who whom whose which when where why how is are was were do does did can could should would "
    "will the a an and but so in on at of to for by from with yes no".split()
)


def names(text: str) -> list[str]:
    """Capitalised names in order of appearance, without question words or repeats."""
    found: list[str] = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        while words and words[0].lower() in _NOT_NAMES | STOPWORDS:
            words.pop(0)
        name = " ".join(words).rstrip("'’")
        if name and name not in found:
            found.append(name)
    return found


def listed_names(text: str) -> list[str]:
    """The names of the first enumeration in ``text``, else all its names."""
    for match in _LIST.finditer(text):
        found = names(match.group())
        if len(found) >= 2:
            return found
    return names(text)


def is_follow_up(question: str) -> bool:
    return bool(
        _PRONOUN.search(question)
        or _ORDINAL.search(question)
        or _OPENER.match(question)
        or len(tokenize(question)) <= 1
    )


_CONTEXT = " (context: "


def resolve(question: str, history: Sequence[StoredAnswer]) -> str:
    """``question`` made standalone against the last turn of ``history`` (oldest first)."""
    if not history or not is_follow_up(question):
        return question
    last = history[-1]
    answer = last.answer if last.answered else ""
    resolved = question
    ordinal = _ORDINAL.search(resolved)
    listed = listed_names(answer) or listed_names(last.resolved_question)
    if ordinal is not None and listed:
        index = _ORDINALS[ordinal.group(1).lower()]
        if index < len(listed):
            resolved = resolved[: ordinal.start()] + listed[index] + resolved[ordinal.end() :]
    # The answer names what the last question was after ("Who discovered polonium?").
    leading = names(answer) or names(last.resolved_question)
    pronoun = _PRONOUN.search(resolved)
    if pronoun is not None and leading:
        word = pronoun.group(1).lower()
        name = leading[0] + ("'s" if word in _POSSESSIVE else "")
        resolved = resolved[: pronoun.start()] + name + resolved[pronoun.end() :]
    previous = tokenize(last.resolved_question)
    if not set(tokenize(resolved)) & set(previous):
        shown = set(tokenize(resolved))
        context = [
            w for w in dict.fromkeys(re.findall(r"[\w'’-]+", last.resolved_question))
            if tokenize(w) and tokenize(w)[0] not in shown and w.lower() not in _NOT_NAMES
        ]  # fmt: skip
        if context:
            resolved = f"{resolved.rstrip()}{_CONTEXT}{' '.join(context)})"
    return resolved


def without_context(question: str) -> str:
    """A resolved question without the earlier turn's words that :func:`resolve` appended:
    they steer retrieval towards the conversation's topic, but say nothing about which
    sentence answers this question."""
    if question.endswith(")") and _CONTEXT in question:
        return question[: question.rindex(_CONTEXT)]
    return question
