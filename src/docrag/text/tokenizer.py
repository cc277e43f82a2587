"""The MiniLM WordPiece tokenizer, shipped as data with DocRAG (see assets/NOTICE.md)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: all-MiniLM-L6-v2 was trained with 256-token inputs (its sentence_bert_config).
MAX_TOKENS = 256
#: Whitespace BERT's pre-tokenizer always splits words at. Python's ``str.isspace`` also admits
#: control characters (``\x0b``, ``\x1c``-``\x1f``, ``\x85``) that BERT's normaliser deletes,
#: gluing the words around them into one ("un\x0bable" is the single token "unable").
_SPLITS = frozenset(" \t\n\r")


@cache
def load_tokenizer(max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The tokenizer with padding to the longest input and truncation at ``max_tokens``.

    The bundled tokenizer.json pads and truncates every input to 128 tokens; both are
    replaced here, so long passages are not silently cut and short batches are not padded.
    """
    tokenizer = _unpadded()
    tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def count_tokens(text: str) -> int:
    """Word-piece tokens of ``text`` including [CLS] and [SEP], without truncation."""
    tokenizer = _untruncated()
    return len(tokenizer.encode(text).ids)


def splits_words(gap: str) -> bool:
    """Whether ``gap``, lying between two texts, makes the tokens of the whole those of the first
    text then those of the second: it is whitespace (which yields no token) holding a character
    BERT splits at, so no word straddles it. Then ``count_tokens(a + gap + b)`` is
    ``count_tokens(a) + count_tokens(b) - 2`` ([CLS] and [SEP] counted once), and a chunker can
    add counts instead of tokenizing the same text again."""
    return gap.isspace() and not _SPLITS.isdisjoint(gap)


@cache
def _untruncated() -> Tokenizer:
    tokenizer = _unpadded()
    tokenizer.no_truncation()
    return tokenizer


def _unpadded() -> Tokenizer:
    """A fresh tokenizer from the shipped tokenizer.json, its fixed padding removed."""
    from tokenizers import Tokenizer

    path = resources.files("docrag.text") / "assets" / "minilm-tokenizer.json"
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tokenizer.no_padding()
    return tokenizer
