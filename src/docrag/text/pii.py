"""PII detectors (docs/pii.md): every kind in one place, behind :func:`find_pii` and :func:`redact`.

A candidate counts only when it passes its format's own validity rules, so order numbers, dates,
ISBNs and version strings are left alone:

- ``EMAIL``: local@domain.tld;
- ``PHONE``: libphonenumber (``phonenumbers``) at its VALID leniency: a number a real numbering
  plan allows, international (+CC) or national to ``region``; a bare run of digits (no +, space,
  dash, dot or parenthesis) only after a cue word (phone, tel, call...), since order and account
  numbers are bare runs too;
- ``CARD``: 13 to 19 digits (plain, or in groups split by one space or dash) whose Luhn check
  digit holds, with a card network's first digit (2 to 6);
- ``IBAN``: country code, check digits and account; its country's length and the mod-97 check
  (``python-stdnum``; not the national check digits inside some countries' accounts);
- ``NATIONAL_ID``: a US SSN written ddd-dd-dddd (area not 000, 666 or 9xx, group not 00, serial
  not 0000: ``python-stdnum``), or a UK National Insurance number (two letters of the allowed
  prefixes, six digits, a suffix A to D).

Where two findings overlap, the longer one wins (an IBAN's digits are not also a phone number).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.us import ssn as _ssn


class PiiType(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CARD = "CARD"
    IBAN = "IBAN"
    NATIONAL_ID = "NATIONAL_ID"

    @property
    def placeholder(self) -> str:
        return f"[{self.value}]"


ALL_TYPES = frozenset(PiiType)


@dataclass(frozen=True, slots=True)
class Finding:
    type: PiiType
    start: int
    end: int


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+'-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
)
_CARD = re.compile(r"(?<![\w-])(?:\d{13,19}|\d{4}(?:([ -])\d{3,6}){2,4})(?![\w-])")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![\w])")
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_NINO = re.compile(r"(?<![\w])([A-Z]{2}) ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w])")
_GROUP_BEFORE = re.compile(r"[A-Z0-9]{4} $")  # the rest of an IBAN-like run of groups, not a number
_NINO_BAD_PREFIX = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding(PiiType.EMAIL, m.start(), m.end())


def _cards(text: str) -> Iterable[Finding]:
    for m in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if _GROUP_BEFORE.search(text[max(0, m.start() - 5) : m.start()]):
            continue  # inside a run of groups (an IBAN whose check failed), not a card
        if 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn.is_valid(digits):
            yield Finding(PiiType.CARD, m.start(), m.end())


def _ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        # The regex may run one group into the next word: try the longest prefix that is valid.
        groups = m.group().split(" ")
        for n in range(len(groups), 0, -1):
            candidate = " ".join(groups[:n])
            if _iban.is_valid(candidate, check_country=False):
                yield Finding(PiiType.IBAN, m.start(), m.start() + len(candidate))
                break


def _national_ids(text: str) -> Iterable[Finding]:
    for m in _SSN.finditer(text):
        if _ssn.is_valid(m.group()):
            yield Finding(PiiType.NATIONAL_ID, m.start(), m.end())
    for m in _NINO.finditer(text):
        prefix = m.group(1)
        if prefix[0] not in "DFIQUV" and prefix[1] not in "DFIOQUV" and prefix not in _NINO_BAD_PREFIX:
            yield Finding(PiiType.NATIONAL_ID, m.start(), m.end())


_PHONE_CUE = re.compile(r"(?i)\b(?:tel|phone|call|mobile|cell|fax|ring|text|whatsapp)\b\W{0,20}$")


_DIGIT_RUN = re.compile(r"[+(]?\d[\d\s().\-/]{4,}\d")


def _digit_run(text: str) -> bool:
    """A run of at least 6 digits (spaces, dashes, dots, slashes, parentheses between) somewhere:
    the detectors, libphonenumber's above all, are slow next to this (a log line per request
    passes here), and no phone, card, IBAN or national id has fewer."""
    return any(sum(c.isdigit() for c in m.group()) >= 6 for m in _DIGIT_RUN.finditer(text))


def _phones(text: str, region: str) -> Iterable[Finding]:
    for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        before = text[max(0, m.start - 30) : m.start]
        if m.raw_string.isdigit() and not _PHONE_CUE.search(before):
            continue  # a bare run of digits is an order or account number unless called a phone
        if _GROUP_BEFORE.search(before):
            continue
        yield Finding(PiiType.PHONE, m.start, m.end)


def find_pii(text: str, types: Iterable[PiiType] = ALL_TYPES, *, region: str = "US") -> list[Finding]:
    """The PII in ``text``, in order, without overlaps (``region``: national phone numbers')."""
    wanted = frozenset(types)
    if not _digit_run(text):  # every kind but e-mail has 6 digits or more: most text stops here
        wanted &= {PiiType.EMAIL} if "@" in text else set()
    found: list[Finding] = []
    if PiiType.EMAIL in wanted:
        found += _emails(text)
    if PiiType.IBAN in wanted:
        found += _ibans(text)
    if PiiType.CARD in wanted:
        found += _cards(text)
    if PiiType.NATIONAL_ID in wanted:
        found += _national_ids(text)
    if PiiType.PHONE in wanted:
        found += _phones(text, region)
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-(f.end - f.start), f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str, types: Iterable[PiiType] = ALL_TYPES, *, region: str = "US") -> str:
    """``text`` with each finding replaced by its typed placeholder (``[EMAIL]``, ``[CARD]``...)."""
    return replace(text, find_pii(text, types, region=region))


def replace(text: str, findings: Iterable[Finding]) -> str:
    out: list[str] = []
    at = 0
    for f in findings:
        out += [text[at : f.start], f.type.placeholder]
        at = f.end
    out.append(text[at:])
    return "".join(out)
