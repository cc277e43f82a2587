"""Verified citations for generated sentences.

The model cites passages by number (``[2]``); a number is only a hint. Each cited passage's
best-matching stored sentence (by shared content stems) becomes the citation's quote, with its
offsets into the document text. A citation whose quote can't be found there is repaired with
the best-matching sentence of any passage retrieved for this request; numbers of no passage
are dropped (a sentence citing nothing but such numbers is dropped by the answerer). A
sentence always leaves with at least one citation, and every citation points into a chunk
retrieved for this request, in the caller's tenant: nothing the model writes can name
another document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from docrag.domain import Citation, Hit, Sentence
from docrag.text.bm25 import tokenize
from docrag.text.sentences import split_sentences

#: A marker: [1], [1, 2], [1][2] (each bracket matched on its own).
MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
#: Share of a claim's content stems a stored sentence must hold to count as its quote.
FOUND = 0.34


def cited_numbers(sentence: str) -> list[int]:
    return [int(n) for m in MARKER.finditer(sentence) for n in re.split(r"[,;]", m.group(1))]


def without_markers(sentence: str) -> str:
    text = _BULLET.sub("", MARKER.sub("", sentence))
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))


@dataclass(frozen=True, slots=True)
class _Sentence:
    hit: Hit
    start: int  # offsets into the document text
    end: int
    stems: frozenset[str]
    page: int | None

    @property
    def text(self) -> str:
        return _text(self.hit, self.start, self.end)


class Passages:
    """The passages of one request, numbered from 1 in retrieval order, with their sentences."""

    def __init__(self, hits: Sequence[Hit]) -> None:
        """Each hit's sentences are those retrieval read with it; a hit without stored sentences
        is split here (their page is the chunk's first)."""
        self.hits = list(hits)
        self._sentences: list[list[_Sentence]] = []
        for hit in self.hits:
            sentences = hit.sentences or tuple(
                Sentence(hit.start + a, hit.start + b, hit.page_start) for a, b in split_sentences(hit.body)
            )
            self._sentences.append(
                [
                    _Sentence(hit, s.start, s.end, frozenset(tokenize(_text(hit, s.start, s.end))), s.page)
                    for s in sentences
                    if hit.start <= s.start < s.end <= hit.end
                ]
            )

    def __len__(self) -> int:
        return len(self.hits)

    def cite(self, claim: str, numbers: Sequence[int]) -> tuple[tuple[Citation, ...], float]:
        """The citations of ``claim`` (without markers), given the passage numbers it cited, and
        the share of the claim's content stems their quotes hold."""
        stems = frozenset(tokenize(claim))
        valid = [n for n in dict.fromkeys(numbers) if 1 <= n <= len(self.hits)]
        found = []
        for n in valid:
            best = self._best(stems, self._sentences[n - 1])
            if best is not None and _match(stems, best) >= FOUND:
                found.append(best)
        if not found:
            every = [s for sentences in self._sentences for s in sentences]
            repaired = self._best(stems, every)
            if repaired is not None and _match(stems, repaired) >= FOUND:
                found = [repaired]
            elif valid:  # nothing matches well: keep the model's choice; groundedness will judge it
                weak = self._best(stems, self._sentences[valid[0] - 1])
                found = [weak] if weak is not None else []
            if not found and repaired is not None:
                found = [repaired]
        covered = frozenset().union(*(s.stems for s in found)) if found else frozenset()
        match = len(stems & covered) / len(stems) if stems else 0.0
        return tuple(_citation(s) for s in found), round(match, 4)

    @staticmethod
    def _best(stems: frozenset[str], sentences: Sequence[_Sentence]) -> _Sentence | None:
        # max() keeps the first of equals: the higher-ranked passage, the earlier sentence.
        return max(sentences, key=lambda s: _score(stems, s), default=None)


def _text(hit: Hit, start: int, end: int) -> str:
    return hit.body[start - hit.start : end - hit.start]


def _match(stems: frozenset[str], sentence: _Sentence) -> float:
    return len(stems & sentence.stems) / len(stems) if stems else 0.0


def _score(stems: frozenset[str], sentence: _Sentence) -> float:
    """Coverage of the claim, then (a tenth as much) precision: the tightest sentence wins ties."""
    shared = len(stems & sentence.stems)
    return _match(stems, sentence) + 0.1 * shared / max(1, len(sentence.stems))


def _citation(s: _Sentence) -> Citation:
    return Citation(
        document_id=s.hit.document_id,
        document_title=s.hit.document_title,
        chunk_id=s.hit.chunk_id,
        page=s.page,
        quote=s.text,
        start=s.start,
        end=s.end,
        heading_path=s.hit.heading_path,
        document_version=s.hit.document_version,
        boxes=s.hit.boxes_in(s.start, s.end),
    )
