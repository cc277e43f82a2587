"""Plain text: one paragraph block per run of non-blank lines."""

from __future__ import annotations

import re

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.ingest.detect import decode_text

MIME = "text/plain"

_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n")


def parse_text(data: bytes) -> ParsedDocument:
    text = decode_text(data).lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    builder = DocumentBuilder(MIME)
    for paragraph in _BLANK_LINES.split(text):
        builder.add(BlockKind.PARAGRAPH, paragraph)
    return builder.build()
