"""Hard unanswerable questions built from a SQuAD-format set (XQuAD English): evaluation only.

Today's abstention set asks questions against other articles, where retrieval finds nothing
close. Here each question is asked against text about its own subject that does not hold
its answer, so the retrieved passages are on topic but none answers:

- ``paragraph``: its own article with the paragraph holding the answer removed;
- ``sentence``: its own article with only the sentence holding the answer removed;
- ``sibling``: another article of the set (the nearest by shared title words, a stand-in
  for "same topic"), never its own.

A variant is kept only when no gold answer string is left in its text, so a question counted
unanswerable truly is one.

The split by article: the answerability model is trained on the articles :func:`held_out`
refuses (index 0 or 3 modulo 4: 24 of XQuAD's 48) and evaluated on the others (1 or 2 modulo
4), so no article, question or text is on both sides, and each side holds articles of both
parities (today's easy set answers the even articles and not the odd ones).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docrag.errors import InvalidRequest
from docrag.eval.xquad import contains

VARIANTS = ("paragraph", "sentence", "sibling")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SquadQuestion:
    article: int
    paragraph: int
    question: str
    answers: tuple[str, ...]
    answer_start: int  # in its paragraph's raw text


@dataclass(frozen=True, slots=True)
class HardCase:
    """One question asked against one text that does not hold its answer."""

    variant: str
    article: int  # the question's own article (the split by article uses it)
    question: str
    answers: tuple[str, ...]
    title: str
    text: str


def held_out(article: int) -> bool:
    """Whether article ``article`` is on the evaluation side of the split (never trained on)."""
    return article % 4 in (1, 2)


def load_paragraphs(path: Path) -> tuple[list[SquadArticle], list[SquadQuestion]]:
    if not path.is_file():
        raise InvalidRequest(f"{path} is not a SQuAD-format JSON file")
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles: list[SquadArticle] = []
    questions: list[SquadQuestion] = []
    for a, article in enumerate(data):
        paragraphs = []
        for p, paragraph in enumerate(article["paragraphs"]):
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                golds = tuple(x["text"] for x in qa["answers"])
                questions.append(SquadQuestion(a, p, qa["question"], golds, qa["answers"][0]["answer_start"]))
        articles.append(SquadArticle(article.get("title") or f"article {a}", tuple(paragraphs)))
    return articles, questions


def _join(paragraphs: list[str] | tuple[str, ...]) -> str:
    return " ".join(" ".join(p.split()) for p in paragraphs if p.strip())


def without_sentence(paragraph: str, at: int) -> str:
    """``paragraph`` less the sentence that holds character ``at``."""
    bounds = [0, *(m.end() for m in _SENTENCE_END.finditer(paragraph)), len(paragraph) + 1]
    for start, end in itertools.pairwise(bounds):
        if start <= at < end:
            return (paragraph[:start] + paragraph[end:]).strip()
    return paragraph


def sibling(articles: list[SquadArticle], a: int, among: set[int] | None = None) -> int:
    """The other article closest to article ``a`` (of ``among``, default all): most shared words
    in title and opening paragraph."""

    def words(i: int) -> set[str]:
        art = articles[i]
        return set(_WORD.findall((art.title + " " + art.paragraphs[0]).lower()))

    mine = words(a)
    others = [i for i in range(len(articles)) if i != a and (among is None or i in among)]
    if not others:
        raise InvalidRequest("a sibling article needs at least two articles")
    return max(others, key=lambda i: (len(mine & words(i)) / max(1, len(words(i))), -i))


def hard_cases(
    articles: list[SquadArticle], questions: list[SquadQuestion], among: set[int] | None = None
) -> Iterator[HardCase]:
    """Every question (of the articles ``among``, default all) in every variant whose text holds
    none of its gold answers; siblings are taken from ``among`` too."""
    pool = set(range(len(articles))) if among is None else among
    siblings = {a: sibling(articles, a, pool) for a in pool} if len(pool) > 1 else {}
    for q in questions:
        if q.article not in pool:
            continue
        art = articles[q.article]
        paragraphs = list(art.paragraphs)
        texts = {
            "paragraph": _join(paragraphs[: q.paragraph] + paragraphs[q.paragraph + 1 :]),
            "sentence": _join(
                [
                    *paragraphs[: q.paragraph],
                    without_sentence(paragraphs[q.paragraph], q.answer_start),
                    *paragraphs[q.paragraph + 1 :],
                ]
            ),
        }
        if q.article in siblings:
            texts["sibling"] = _join(articles[siblings[q.article]].paragraphs)
        for variant in VARIANTS:
            text = texts.get(variant)
            title = articles[siblings[q.article]].title if variant == "sibling" else art.title
            if text and not contains(text, q.answers):
                yield HardCase(variant, q.article, q.question, q.answers, title, text)
