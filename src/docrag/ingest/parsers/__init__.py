"""Parse uploaded bytes into a :class:`ParsedDocument`, dispatching on the detected type."""

from __future__ import annotations

from collections.abc import Callable

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError, NoTextFound, UnreadableFile
from docrag.ingest.detect import DOCX, HTML, MARKDOWN, PDF, TEXT, detect_type
from docrag.ingest.parsers.docx import parse_docx
from docrag.ingest.parsers.html import parse_html
from docrag.ingest.parsers.markdown import parse_markdown
from docrag.ingest.parsers.pdf import parse_pdf
from docrag.ingest.parsers.text import parse_text

__all__ = ["PARSERS", "parse"]

PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    PDF: parse_pdf,
    DOCX: parse_docx,
    HTML: parse_html,
    MARKDOWN: parse_markdown,
    TEXT: parse_text,
}


def parse(data: bytes, filename: str | None = None) -> ParsedDocument:
    """Detect the type of ``data`` and parse it; every failure is a :class:`DocRAGError`."""
    mime = detect_type(data, filename)
    try:
        document = PARSERS[mime](data)
    except DocRAGError:
        raise
    except Exception as exc:  # a parser bug or a library failing on odd input
        raise UnreadableFile(f"the file could not be parsed: {type(exc).__name__}: {exc}") from exc
    if not document.blocks:
        hint = " (a scanned PDF needs OCR first)" if mime == PDF else ""
        raise NoTextFound(f"no text was found in the document{hint}")
    return document
