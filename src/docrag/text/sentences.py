"""Rule-based sentence splitting: fast, offset-preserving and good enough for citations.

Sentences end after ``.``, ``!`` or ``?`` (optionally followed by closing quotes, brackets
or citation markers such as ``[3]``) when whitespace and an uppercase letter, a digit or
an opening quote/bracket follow; every line break also ends a sentence, so list and table
rows stay apart. Common abbreviations, initials, decimals and section numbers do not end
a sentence. No I/O and no heavy libraries: one regular expression pass per line.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

_OPENERS = "\"'“‘([{«"

# Terminal punctuation (group 1), closing quotes/brackets/citation markers (group 2), then
# whitespace and more text.
_CANDIDATE = re.compile(r"([.!?]+)([\"'”’)\]}»]*(?:\[\d+(?:[,\u2013-]\d+)*\])*)\s+(?=\S)")
_NON_SPACE = re.compile(r"\S")
# "e.g", "i.e", "U.S", "a.m": single letters joined by dots (the final dot is the match's).
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
# "1." or "2.1." opening a sentence is a list/section number, not a sentence of its own.
_NUMBERING = re.compile(r"\d+(?:\.\d+)*|[a-z]")

#: Lower-cased, without the final dot: never end a sentence.
_ABBREVIATIONS = frozenset(
    {
        "e.g", "i.e", "al", "dr", "mr", "mrs", "ms", "prof", "fig", "figs", "vs", "approx",
        "cf", "v", "st", "jr", "sr", "u.s", "inc", "ltd", "co", "corp", "sec", "secs", "eq", "eqs",
        "ref", "refs", "tab", "ed", "eds", "dept", "univ", "ph.d", "resp", "viz", "ca",
        "jan", "feb", "apr", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "gen", "rev",
        "lt", "col", "sgt", "capt", "gov", "sen", "rep", "est", "min", "max", "chap", "ch",
    }
)  # fmt: skip
#: Abbreviations that only precede a number ("No. 5", "pp. 12"): elsewhere they may end one.
_NUMBER_ABBREVIATIONS = frozenset({"no", "nos", "nr", "p", "pp", "vol", "vols", "art", "para"})


def split_sentences(
    text: str, start: int = 0, end: int | None = None, *, max_chars: int = 600
) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` as absolute offsets into ``text``, covering
    ``text[start:end]`` in order, each without leading or trailing whitespace.

    A sentence longer than ``max_chars`` is cut at the last ``"; "`` (else ``", "``, else
    space) that keeps the piece under the cap; a run without whitespace is left whole.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    length = len(text)
    end = length if end is None else min(end, length)
    pos = max(0, start)
    spans: list[tuple[int, int]] = []
    while pos < end:
        newline = text.find("\n", pos, end)
        line_end = end if newline < 0 else newline
        _split_line(text, pos, line_end, max_chars, spans)
        pos = line_end + 1
    return spans


def _split_line(text: str, start: int, end: int, max_chars: int, out: list[tuple[int, int]]) -> None:
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return
    start = first.start()
    while text[end - 1].isspace():
        end -= 1
    sentence_start = start
    for match in _CANDIDATE.finditer(text, start, end):
        following = text[match.end()]
        if not (following.isupper() or following.isdigit() or following in _OPENERS):
            continue
        punct_start = match.start()
        if match.group(1) == ".":
            word_start = max(sentence_start, text.rfind(" ", sentence_start, punct_start) + 1)
            word = text[word_start:punct_start]
            if not _ends_sentence(word, following, word_start == sentence_start):
                continue
        _emit(text, sentence_start, match.end(2), max_chars, out)
        sentence_start = match.end()
    _emit(text, sentence_start, end, max_chars, out)


def _ends_sentence(word: str, following: str, opens_sentence: bool) -> bool:
    """Whether ``word`` + "." ends a sentence, given the next sentence's first character."""
    word = word.lstrip(_OPENERS)
    if not word:
        return True
    lower = word.lower()
    if lower in _ABBREVIATIONS:
        return False
    if lower in _NUMBER_ABBREVIATIONS and following.isdigit():
        return False
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return False
    if _DOTTED.fullmatch(word):
        return False
    return not (opens_sentence and _NUMBERING.fullmatch(word))


def _emit(text: str, start: int, end: int, max_chars: int, out: list[tuple[int, int]]) -> None:
    """Append ``[start, end)``, cut into pieces of at most ``max_chars`` where possible."""
    while end - start > max_chars:
        limit = start + max_chars
        low = start + max_chars // 3
        cut = -1
        resume = -1
        for separator in ("; ", ", "):
            found = text.rfind(separator, low, limit + 1)
            if found >= 0:
                cut, resume = found + 1, found + 2
                break
        else:
            found = text.rfind(" ", low, limit + 1)
            if found >= 0:
                cut, resume = found, found + 1
        if cut < 0:
            break
        while text[cut - 1].isspace():
            cut -= 1
        out.append((start, cut))
        while text[resume].isspace():
            resume += 1
        start = resume
    out.append((start, end))
