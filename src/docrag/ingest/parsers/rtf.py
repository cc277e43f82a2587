"""RTF parsing with striprtf: the text without control words, one paragraph per line."""

from __future__ import annotations

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import UnreadableFile
from docrag.ingest.formats import RTF
from docrag.ingest.parsers.delimited import decode

#: striprtf walks the whole group stack; deeper nesting than this is not a real document.
MAX_GROUP_DEPTH = 500


def parse_rtf(data: bytes) -> ParsedDocument:
    from striprtf.striprtf import rtf_to_text

    text = decode(data)  # RTF is 7-bit; \'xx escapes carry the code page's characters
    depth = deepest = 0
    for char in text[:4_000_000]:
        if char == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "}":
            depth -= 1
    if deepest > MAX_GROUP_DEPTH:
        raise UnreadableFile(f"the RTF file nests groups {deepest} deep; refused")
    try:
        plain: str = rtf_to_text(text, errors="replace")  # type: ignore[no-untyped-call]
    except Exception as exc:  # striprtf on damaged control words
        raise UnreadableFile(f"the RTF file could not be read: {type(exc).__name__}: {exc}") from exc
    builder = DocumentBuilder(RTF)
    for line in plain.splitlines():
        builder.add(BlockKind.PARAGRAPH, line)
    return builder.build()
