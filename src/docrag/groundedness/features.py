"""Lexical signals for the groundedness detector: content words, numbers, names, negation.

Pure text processing (no model): every function here is cheap and deterministic, so the
detector can run them over the whole evidence while embedding only the best-aligned part.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from docrag.text.bm25 import STOPWORDS, tokenize

__all__ = [
    "ANTONYMS",
    "NEGATIONS",
    "Words",
    "analyse",
    "numbers_in",
]

_WORD = re.compile(r"\w+", re.UNICODE)
# 1,000  1000  3.5  12%  (digits with thousands separators and decimals)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?!\w)")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
    "eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
    "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
    "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10", "half": "0.5", "dozen": "12",
    "once": "1", "twice": "2", "single": "1", "double": "2", "triple": "3", "percent": "",
}  # fmt: skip
#: Words that negate a clause ("n't" arrives from ``\w+`` as the word "t" after "don", "isn" ...).
NEGATIONS = frozenset(
    "not no never none nobody nothing neither nor without cannot nowhere t unable fail failed fails"
    " lack lacks lacked refuse refused refuses deny denied denies".split()
)
# Clauses: runs between punctuation and clause-joining words.
_CLAUSE = re.compile(
    r"(?:(?!\b(?:and|but|while|whereas|although|though|because|which)\b)[^,;:()])+", re.IGNORECASE
)
_NEG_CONTRACTIONS = re.compile(r"\w+n['’]t\b|\bcannot\b", re.IGNORECASE)
#: Pairs of stems (Snowball) with opposite meaning; an edit often swaps one for the other.
_ANTONYM_PAIRS = [
    ("increas", "decreas"), ("rise", "fall"), ("rose", "fell"), ("higher", "lower"), ("more", "less"),
    ("more", "fewer"), ("befor", "after"), ("gain", "loss"), ("posit", "negat"), ("agre", "disagre"),
    ("accept", "reject"), ("win", "lose"), ("won", "lost"), ("up", "down"), ("profit", "loss"),
    ("larger", "smaller"), ("bigger", "smaller"), ("first", "last"), ("earli", "later"), ("open", "close"),
    ("approv", "reject"), ("allow", "forbid"), ("allow", "prohibit"), ("success", "failur"),
    ("strong", "weak"), ("stronger", "weaker"), ("high", "low"), ("major", "minor"), ("best", "worst"),
    ("better", "wors"), ("like", "dislik"), ("buy", "sell"), ("bought", "sold"), ("start", "end"),
    ("begin", "end"), ("includ", "exclud"), ("maximum", "minimum"), ("increas", "reduc"),
    ("grow", "shrink"), ("grew", "shrank"), ("expand", "contract"), ("male", "femal"), ("men", "women"),
    ("husband", "wife"), ("son", "daughter"), ("brother", "sister"), ("father", "mother"),
    ("north", "south"), ("east", "west"), ("left", "right"), ("old", "new"), ("old", "young"),
    ("easi", "difficult"), ("easi", "hard"), ("fast", "slow"), ("faster", "slower"), ("cheap", "expens"),
    ("cheaper", "expens"), ("richer", "poorer"), ("rich", "poor"), ("hot", "cold"), ("long", "short"),
    ("longer", "shorter"), ("alway", "never"), ("all", "none"), ("mani", "few"), ("abov", "below"),
    ("insid", "outsid"), ("import", "export"), ("past", "futur"), ("yesterday", "tomorrow"),
    ("support", "oppos"), ("legal", "illeg"), ("possibl", "imposs"), ("like", "unlik"),
    ("sign", "unsign"), ("able", "unabl"), ("happi", "sad"), ("happi", "unhappi"), ("love", "hate"),
    ("dead", "aliv"), ("die", "surviv"), ("remot", "offic"), ("intern", "extern"), ("public", "privat"),
]  # fmt: skip
ANTONYMS: dict[str, frozenset[str]] = {}
for _a, _b in _ANTONYM_PAIRS:
    ANTONYMS[_a] = ANTONYMS.get(_a, frozenset()) | {_b}
    ANTONYMS[_b] = ANTONYMS.get(_b, frozenset()) | {_a}


def numbers_in(text: str) -> set[str]:
    """Normalised numbers of ``text``: "1,000" and "1000.0" are "1000"; "ten" is "10"."""
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        whole = match.group(1).replace(",", "").lstrip("0") or "0"
        fraction = (match.group(2) or "").rstrip("0")
        found.add(f"{whole}.{fraction}" if fraction else whole)
    for word in _WORD.findall(text.lower()):
        value = _NUMBER_WORDS.get(word)
        if value:
            found.add(value)
    return found


@dataclass(frozen=True, slots=True)
class Words:
    """The lexical view of one sentence."""

    spans: tuple[tuple[int, int], ...]  # character spans of the content words
    stems: tuple[str, ...]  # their stems, aligned with ``spans``
    names: frozenset[str]  # stems of capitalised words not opening the sentence, and acronyms
    numbers: frozenset[str]
    negated: bool
    negated_clauses: tuple[frozenset[str], ...]  # content stems of each clause holding a negation
    bigrams: frozenset[tuple[str, str]]  # consecutive and skip-one pairs of content stems


def analyse(text: str) -> Words:
    spans: list[tuple[int, int]] = []
    raw: list[str] = []
    capitalised: list[bool] = []
    negated = bool(_NEG_CONTRACTIONS.search(text))
    for index, match in enumerate(_WORD.finditer(text)):
        word = match.group()
        lower = word.lower()
        if lower in NEGATIONS and lower != "t":
            negated = True
        if lower in STOPWORDS or len(lower) >= 64 or len(lower) == 1 or lower.isdigit():
            continue
        spans.append(match.span())
        raw.append(lower)
        capitalised.append(
            (index > 0 and word[0].isupper() and not word.isdigit()) or (len(word) > 1 and word.isupper())
        )
    stems = tokenize(" ".join(raw)) if raw else []
    if len(stems) != len(raw):  # pragma: no cover - tokenize filters exactly as above
        raise AssertionError("stem alignment lost")
    names = frozenset(s for s, cap in zip(stems, capitalised, strict=True) if cap)
    pairs = set(itertools.pairwise(stems)) | set(zip(stems, stems[2:], strict=False))
    clauses: list[frozenset[str]] = []
    if negated:
        for match in _CLAUSE.finditer(text):
            if _NEG_CONTRACTIONS.search(match.group()) or NEGATIONS & set(
                _WORD.findall(match.group().lower())
            ):
                clauses.append(frozenset(tokenize(match.group())))
    return Words(
        tuple(spans),
        tuple(stems),
        names,
        frozenset(numbers_in(text)),
        negated,
        tuple(clauses),
        frozenset(pairs),
    )
