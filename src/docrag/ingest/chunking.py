"""Cut a :class:`ParsedDocument` into retrieval chunks that never leave their section.

A section is a heading and the blocks under it (blocks before the first heading form a
section with an empty heading path). Whole blocks are packed greedily up to
``target_tokens`` of *contextual* text (heading path + body, as embedded); a block that
is too big is cut at sentence boundaries, and a sentence too big for ``max_tokens`` at
word boundaries (a giant word at characters). Every chunk's contextual text is at most
``max_tokens`` tokens: each chunk is verified with a real count, and split if over. Text is
tokenized once where it can be: the count of spans split at whitespace is the sum of theirs
(docrag/text/tokenizer.py: ``splits_words``), so a block's count is its sentences' and a chunk's
is its pieces', without tokenizing them again.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from docrag.domain import ChunkDraft, ParsedDocument
from docrag.ingest.sections import Section, lines, sections
from docrag.text.sentences import split_sentences
from docrag.text.tokenizer import count_tokens as _default_count_tokens
from docrag.text.tokenizer import splits_words

__all__ = ["chunk_document"]

_WORD = re.compile(r"\S+")
#: [CLS] and [SEP], counted once per encoded text.
_SPECIAL = 2
_MIN_MAX_TOKENS = 8
#: Semantic chunking: sentences pooled on each side of a gap, and how far (in standard
#: deviations under the section's median similarity) a gap must dip to earn an extra cut.
_GAP_WINDOW = 3
_SHIFT_STDS = 1.0
#: Past this many sentences a section is packed by size (bench/parse_throughput.py).
_SEMANTIC_MAX_PIECES = 1000
#: A block of several sentences and at least this many characters per token of the packing
#: budget is likely over it: its sentences are counted first, and their counts make the block's,
#: instead of counting the block and then (over budget) each of its sentences again.
_SENTENCES_FIRST = 3

#: WordPiece tokens with [CLS] and [SEP]: counts of texts joined at whitespace add up.
TokenCounter = Callable[[str], int]
#: Unit-length vectors for a list of texts (rows in order); used to find topic shifts.
SentenceEmbedder = Callable[[list[str]], "np.ndarray[Any, Any]"]
ChunkingMode = Literal["semantic", "structural", "fixed"]


@dataclass(frozen=True, slots=True)
class _Piece:
    """A span that is never cut further when packing: a block, a sentence or a word run."""

    start: int
    end: int
    tokens: int  # content tokens, without [CLS]/[SEP]
    page: int | None


def chunk_document(
    doc: ParsedDocument,
    *,
    max_tokens: int = 256,
    target_tokens: int = 200,
    count_tokens: TokenCounter = _default_count_tokens,
    mode: ChunkingMode = "structural",
    embed: SentenceEmbedder | None = None,
) -> list[ChunkDraft]:
    """The chunks of ``doc`` in reading order (``ord`` 0..n-1); ``[]`` for an empty document.

    ``structural`` packs whole blocks, then sentences, greedily. ``semantic`` (needs
    ``embed``) places the cuts a section needs where adjacent sentences differ most in
    meaning, and adds cuts at clear topic shifts. ``fixed`` cuts fixed-size word windows,
    ignoring sentences (the baseline the others are measured against).
    """
    if mode == "semantic" and embed is None:
        raise ValueError("semantic chunking needs an embed function")
    if max_tokens < _MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens must be at least {_MIN_MAX_TOKENS}")
    if target_tokens < 1:
        raise ValueError("target_tokens must be positive")
    target_tokens = min(target_tokens, max_tokens)
    drafts: list[ChunkDraft] = []
    for section in sections(doc):
        chunker = _SectionChunker(doc.text, section, max_tokens, target_tokens, count_tokens)
        chunker.mode = mode
        chunker.embed = embed
        drafts.extend(chunker.chunks(len(drafts)))
    return drafts


class _SectionChunker:
    def __init__(
        self,
        text: str,
        section: Section,
        max_tokens: int,
        target_tokens: int,
        count_tokens: TokenCounter,
    ) -> None:
        self.text = text
        self.section = section
        self.count = count_tokens
        self.max_tokens = max_tokens
        # Tokens every chunk of the section spends on [CLS], [SEP] and the heading path.
        self.path, self.overhead = self._fit_path(section.path)
        self.prefix = " > ".join(self.path) + "\n" if self.path else ""
        hard = max_tokens - self.overhead
        self.hard = hard  # content tokens a chunk may never exceed
        self.budget = max(target_tokens - self.overhead, hard // 2)  # content tokens to pack to
        self.sentences: list[tuple[int, int]] = []
        self.sentence_ends: list[int] = []
        self.mode: ChunkingMode = "structural"
        self.embed: SentenceEmbedder | None = None

    def _fit_path(self, path: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
        """Drop leading headings until the path takes at most half of ``max_tokens``;
        returns the path and its token count with [CLS]/[SEP]."""
        while path:
            tokens = self.count(" > ".join(path) + "\n")
            if tokens <= self.max_tokens // 2:
                return path, tokens
            path = path[1:]
        return (), _SPECIAL

    def chunks(self, first_ord: int) -> list[ChunkDraft]:
        pieces = self._pieces()
        self.sentence_ends = [end for _, end in self.sentences]
        if self.mode == "fixed":
            pieces = [p for s, e, page in self.section.blocks for p in self._split_long(s, e, page)]
            groups = self._pack(pieces)
        elif self.mode == "semantic" and self.embed is not None and self._needs_cuts(pieces):
            groups = self._pack_semantic(pieces, self.embed)
        else:
            groups = self._pack(pieces)
        drafts: list[ChunkDraft] = []
        for group in groups:
            for part in self._verified(group):
                drafts.append(self._draft(first_ord + len(drafts), part))
        return drafts

    # -- pieces ----------------------------------------------------------------------------

    def _tokens(self, start: int, end: int) -> int:
        return self.count(self.text[start:end]) - _SPECIAL

    def _pieces(self) -> list[_Piece]:
        pieces: list[_Piece] = []
        for start, end, page in self.section.blocks:
            # A table row block is one sentence, and a table block's rows (lines) are its
            # sentences: packed and quoted whole, never cut inside.
            if start in self.section.rows:
                sentences = [(start, end)]
            elif start in self.section.tables:
                sentences = lines(self.text, start, end)
            else:
                sentences = split_sentences(self.text, start, end)
            self.sentences.extend(sentences)
            counts = self._sentence_tokens(sentences, start, end)
            tokens = sum(counts) if counts is not None else self._tokens(start, end)
            if tokens <= self.budget:
                pieces.append(_Piece(start, end, tokens, page))
                continue
            for i, (s_start, s_end) in enumerate(sentences):
                tokens = counts[i] if counts is not None else self._tokens(s_start, s_end)
                if tokens <= self.hard:
                    pieces.append(_Piece(s_start, s_end, tokens, page))
                else:
                    pieces.extend(self._split_long(s_start, s_end, page))
        return pieces

    def _sentence_tokens(self, sentences: list[tuple[int, int]], start: int, end: int) -> list[int] | None:
        """The sentences' tokens, which add up to the block's ``[start, end)``; ``None`` where
        they may not (not split at whitespace) or the block is short enough to count whole."""
        if not sentences or sentences[0][0] != start or sentences[-1][1] != end:
            return None
        if len(sentences) > 1 and end - start < _SENTENCES_FIRST * self.budget:
            return None
        if not _adds_up(self.text, sentences):
            return None
        return [self._tokens(s_start, s_end) for s_start, s_end in sentences]

    def _fits(self, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` as a whole chunk stays within the packing budget."""
        return self.count(self.prefix + self.text[start:end]) <= self.overhead + self.budget

    def _split_long(self, start: int, end: int, page: int | None) -> list[_Piece]:
        """Cut ``[start, end)`` at word boundaries (at characters inside a giant word) into
        pieces each verified by a real count to fit the packing budget."""
        words = [(m.start(), m.end()) for m in _WORD.finditer(self.text, start, end)]
        out: list[_Piece] = []
        i = 0
        while i < len(words):
            w_start = words[i][0]
            if not self._fits(w_start, words[i][1]):
                out.extend(self._split_word(words[i][0], words[i][1], page))
                i += 1
                continue
            # k words hold at least k tokens, so at most ``budget`` words can fit.
            low, high = i, min(len(words) - 1, i + self.budget)
            while low < high:
                mid = (low + high + 1) // 2
                if self._fits(w_start, words[mid][1]):
                    low = mid
                else:
                    high = mid - 1
            out.append(_Piece(w_start, words[low][1], self._tokens(w_start, words[low][1]), page))
            i = low + 1
        return out

    def _split_word(self, start: int, end: int, page: int | None) -> list[_Piece]:
        out: list[_Piece] = []
        while start < end:
            length = end - start
            good = 1  # one character always goes, so the loop ends
            step = 1
            while step * 2 <= length and self._fits(start, start + step * 2):
                step *= 2
                good = step
            low, high = good, min(step * 2, length)
            while low < high:
                mid = (low + high + 1) // 2
                if self._fits(start, start + mid):
                    low = mid
                else:
                    high = mid - 1
            out.append(_Piece(start, start + low, self._tokens(start, start + low), page))
            start += low
        return out

    # -- packing ---------------------------------------------------------------------------

    def _pack(self, pieces: Sequence[_Piece]) -> list[list[_Piece]]:
        groups: list[list[_Piece]] = []
        current: list[_Piece] = []
        used = 0
        for piece in pieces:
            if current and used + piece.tokens > self.budget:
                groups.append(current)
                current, used = [], 0
            current.append(piece)
            used += piece.tokens
        if current:
            groups.append(current)
        self._rebalance_tail(groups)
        return groups

    def _needs_cuts(self, pieces: Sequence[_Piece]) -> bool:
        """Whether the section spans more than three chunks: only then is there a real choice
        of where its topics change, worth a model pass over every sentence (as much work as
        embedding the chunks themselves). Shorter sections (abstracts) are cut by size, and so
        are sections of more than :data:`_SEMANTIC_MAX_PIECES` sentences (logs, listings, data
        dumps: thousands of short lines), whose model pass would double their ingestion time."""
        if len(pieces) > _SEMANTIC_MAX_PIECES:
            return False
        return len(pieces) > 3 and sum(p.tokens for p in pieces) > 3 * self.budget

    def _pack_semantic(self, pieces: Sequence[_Piece], embed: SentenceEmbedder) -> list[list[_Piece]]:
        """Segment ``pieces`` within the budget, cutting where meaning shifts.

        The gap before piece i scores the similarity of the two pieces before it with the
        two from it on (windows smooth out single odd sentences). A dynamic program picks
        the cuts: each costs its similarity minus the section's typical similarity, so cuts
        at clear shifts pay for themselves and forced cuts land at the weakest links; chunks
        under a quarter of the budget are penalised.
        """
        vectors = embed([self.text[p.start : p.end] for p in pieces])
        n = len(pieces)
        gap = np.zeros(n)
        for i in range(1, n):
            left = vectors[max(0, i - _GAP_WINDOW) : i].sum(axis=0)
            right = vectors[i : i + _GAP_WINDOW].sum(axis=0)
            gap[i] = float(left @ right) / max(float(np.linalg.norm(left) * np.linalg.norm(right)), 1e-9)
        typical = float(np.median(gap[1:])) - _SHIFT_STDS * float(np.std(gap[1:]))
        tokens = [p.tokens for p in pieces]
        small = self.budget / 4
        best = [0.0] + [float("inf")] * n
        back = [0] * (n + 1)
        for j in range(1, n + 1):
            used = 0
            for i in range(j - 1, -1, -1):
                used += tokens[i]
                if used > self.budget and i < j - 1:
                    break
                cost = best[i] + (gap[i] - typical if i > 0 else 0.0) + (1.0 if used < small else 0.0)
                if cost < best[j]:
                    best[j], back[j] = cost, i
        groups: list[list[_Piece]] = []
        j = n
        while j > 0:
            groups.append(list(pieces[back[j] : j]))
            j = back[j]
        return groups[::-1]

    def _rebalance_tail(self, groups: list[list[_Piece]]) -> None:
        """Avoid a tiny last chunk: merge it into the previous one if that fits, else move
        pieces from the end of the previous chunk into it."""
        if len(groups) < 2:
            return
        previous, last = groups[-2], groups[-1]
        small = self.budget / 4
        last_tokens = sum(p.tokens for p in last)
        if last_tokens >= small:
            return
        if sum(p.tokens for p in previous) + last_tokens <= self.budget:
            previous.extend(last)
            groups.pop()
            return
        while len(previous) > 1 and last_tokens < small and last_tokens + previous[-1].tokens <= self.budget:
            moved = previous.pop()
            last.insert(0, moved)
            last_tokens += moved.tokens

    def _verified(self, group: list[_Piece]) -> list[list[_Piece]]:
        """``group`` if its count (a real one, or its pieces' where they add up) is within
        ``max_tokens``, else smaller groups that are."""
        start, end = group[0].start, group[-1].end
        if _adds_up(self.text, [(p.start, p.end) for p in group]):  # the prefix ends in "\n"
            tokens = self.overhead + sum(p.tokens for p in group)
        else:
            tokens = self.count(self.prefix + self.text[start:end])
        if tokens <= self.max_tokens:
            return [group]
        if len(group) > 1:
            half = len(group) // 2
            return self._verified(group[:half]) + self._verified(group[half:])
        piece = group[0]
        return [[part] for part in self._split_long(piece.start, piece.end, piece.page)]

    def _draft(self, ord_: int, group: list[_Piece]) -> ChunkDraft:
        start, end = group[0].start, group[-1].end
        pages = [p.page for p in group if p.page is not None]
        first = bisect.bisect_right(self.sentence_ends, start)
        sentences: list[tuple[int, int]] = []
        for s_start, s_end in self.sentences[first:]:
            if s_start >= end:
                break
            sentences.append((max(s_start, start), min(s_end, end)))
        return ChunkDraft(
            ord=ord_,
            start=start,
            end=end,
            body=self.text[start:end],
            heading_path=self.path,
            page_start=min(pages) if pages else None,
            page_end=max(pages) if pages else None,
            sentences=tuple(sentences),
        )


def _adds_up(text: str, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether ``text`` from the first span to the last tokenizes as the spans one after another."""
    return all(splits_words(text[a_end:b_start]) for (_, a_end), (b_start, _) in itertools.pairwise(spans))
