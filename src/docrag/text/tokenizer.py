"""The MiniLM WordPiece tokenizer, shipped as data with DocRAG (see assets/NOTICE.md)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: all-MiniLM-L6-v2 was trained with 256-token inputs (its sentence_bert_config).
MAX_TOKENS = 256


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
