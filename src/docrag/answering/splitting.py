"""Cuts streamed model text into sentences as each one completes.

A sentence is complete once the next one has begun. A citation written after the full stop
(``... meters. [1] The ...``) belongs to the sentence before it, so a piece that opens with
markers gives them back, and a piece that so far is only ``[`` keeps the one before it waiting.
"""

from __future__ import annotations

import re

from docrag.text.sentences import split_sentences

_LEADING_MARKERS = re.compile(r"(?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])+")


def pieces(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``, each citation marker on the sentence it follows."""
    merged: list[tuple[int, int]] = []
    for start, end in split_sentences(text):
        m = _LEADING_MARKERS.match(text, start)
        if m is not None and merged:
            merged[-1] = (merged[-1][0], m.end())
            start = m.end()
            while start < end and text[start].isspace():
                start += 1
        if start < end:
            merged.append((start, end))
    return merged


class SentenceBuffer:
    def __init__(self) -> None:
        self._text = ""

    def feed(self, delta: str) -> list[str]:
        """The sentences that ``delta`` completed."""
        self._text += delta
        spans = pieces(self._text)
        if len(spans) < 2 or self._text[spans[-1][0]] == "[":
            return []
        done = [self._text[a:b] for a, b in spans[:-1]]
        self._text = self._text[spans[-1][0] :]
        return done

    def flush(self) -> list[str]:
        """The sentences left when the text ends."""
        done = [self._text[a:b] for a, b in pieces(self._text)]
        self._text = ""
        return done
