"""Generated text is shown only after these checks, because a passage may have instructed the
model: links, images and URLs leading elsewhere are stripped (an answer links only to its
citations, which are this service's own documents), and a sentence that reproduces the system
prompt is dropped.
"""

from __future__ import annotations

import re

_IMAGE = re.compile(r"!\[[^\]\n]*\]\s*(?:\([^)\n]*\)|\[[^\]\n]*\])")
_LINK = re.compile(r"\[([^\]\n]*)\]\s*\([^)\n]*\)")
_REFERENCE = re.compile(r"^\s*\[[^\]\n]+\]:\s*\S+.*$", re.MULTILINE)
_HTML = re.compile(
    r"<\s*/?\s*(?:a|img|iframe|script|style|link|source|video|audio|object|embed|form|meta)\b[^>]*>",
    re.IGNORECASE,
)
_URL = re.compile(
    r"<?\b(?:[a-z][a-z0-9+.-]{1,15}://|www\.|mailto:|data:|javascript:)[^\s<>\"'\]]*>?"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|info|biz|xyz|ru|cn|co|me|app|dev|ai|ly|gl|link|site)"
    r"(?:/[^\s<>\"'\]]*)?\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t]{2,}")
_WORD = re.compile(r"\w+")
SHINGLE = 4


def strip_links(text: str) -> str:
    """``text`` without images, links (their text stays), HTML link tags and URLs."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: f"[{m.group(1)}]" if m.group(1).strip().isdigit() else m.group(1), text)
    text = _REFERENCE.sub("", text)
    text = _HTML.sub("", text)
    text = _URL.sub("", text)
    return _SPACES.sub(" ", text).strip()


def has_links(text: str) -> bool:
    return any(p.search(text) for p in (_IMAGE, _LINK, _REFERENCE, _HTML, _URL))


class EchoGuard:
    """Tells whether a sentence reproduces the system prompt: it holds the prompt's canary, or
    most of its runs of four words are runs of the prompt."""

    def __init__(self, system_prompt: str, canary: str, *, share: float = 0.5) -> None:
        self._canary = canary.lower()
        self._shingles = _shingles(system_prompt)
        self._share = share

    def echoes(self, sentence: str) -> bool:
        if self._canary in sentence.lower():
            return True
        shingles = _shingles(sentence)
        if not shingles:
            return False
        return len(shingles & self._shingles) / len(shingles) >= self._share


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
