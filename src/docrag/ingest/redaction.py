"""A parsed document with its PII replaced by typed placeholders (text/pii.py), before chunking:
chunks, vectors, answers and citations only ever see ``[EMAIL]``, ``[CARD]``... (docs/pii.md).

Each block is redacted on its own (a finding never spans two blocks) and the blocks' offsets are
moved to the new text, so every later offset still points into the one ``text``.
"""

from __future__ import annotations

from dataclasses import replace

from docrag.domain import Block, ParsedDocument
from docrag.text.pii import redact


def redact_document(parsed: ParsedDocument) -> ParsedDocument:
    parts: list[str] = []
    blocks: list[Block] = []
    at = length = 0
    for block in parsed.blocks:
        gap = parsed.text[at : block.start]  # the separator between blocks, kept as it is
        clean = redact(parsed.text[block.start : block.end])
        parts += [gap, clean]
        start = length + len(gap)
        length = start + len(clean)
        path = tuple(redact(h) for h in block.heading_path)
        blocks.append(replace(block, start=start, end=length, heading_path=path))
        at = block.end
    parts.append(parsed.text[at:])
    title = redact(parsed.title) if parsed.title else parsed.title
    return replace(parsed, text="".join(parts), blocks=tuple(blocks), title=title)
