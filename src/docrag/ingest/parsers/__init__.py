"""Parse uploaded bytes into a :class:`ParsedDocument`, dispatching on the detected type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError, NoTextFound, NoTextLayer, ParseMemoryExceeded, UnreadableFile
from docrag.ingest.detect import DOCX, HTML, IMAGES, MARKDOWN, PDF, TEXT, detect_type
from docrag.ingest.parsers.docx import MAX_UNCOMPRESSED, parse_docx
from docrag.ingest.parsers.html import parse_html
from docrag.ingest.parsers.markdown import parse_markdown
from docrag.ingest.parsers.ocr import OcrOptions, disabled_message, parse_image
from docrag.ingest.parsers.pdf import MAX_PAGES, parse_pdf
from docrag.ingest.parsers.text import parse_text

__all__ = ["PARSERS", "OcrOptions", "ParseLimits", "parse"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What one parse may do before it is refused (DOCRAG_MAX_PAGES, DOCRAG_MAX_DECOMPRESSED_BYTES)."""

    max_pages: int = MAX_PAGES
    max_decompressed_bytes: int = MAX_UNCOMPRESSED
    #: OCR for images and PDF pages without text (DOCRAG_OCR=on); ``None``: off.
    ocr: OcrOptions | None = None


PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    PDF: parse_pdf,
    DOCX: parse_docx,
    HTML: parse_html,
    MARKDOWN: parse_markdown,
    TEXT: parse_text,
}


def parse(data: bytes, filename: str | None = None, limits: ParseLimits | None = None) -> ParsedDocument:
    """Detect the type of ``data`` and parse it; every failure is a :class:`DocRAGError`.

    Only the page and decompression ``limits`` apply here; time and memory are bounded by
    running this in :mod:`docrag.ingest.sandbox`.
    """
    limits = limits or ParseLimits()
    try:
        mime = detect_type(data, filename)
        if mime == PDF:
            document = parse_pdf(
                data,
                max_pages=limits.max_pages,
                max_decompressed=limits.max_decompressed_bytes,
                ocr=limits.ocr,
            )
        elif mime in IMAGES:
            document = parse_image(data, mime, limits.ocr, max_pages=limits.max_pages)
        elif mime == DOCX:
            document = parse_docx(data, max_uncompressed=limits.max_decompressed_bytes)
        else:
            document = PARSERS[mime](data)
    except DocRAGError:
        raise
    except MemoryError as exc:
        raise ParseMemoryExceeded("parsing the file needed more memory than allowed") from exc
    except Exception as exc:  # a parser bug or a library failing on odd input
        raise UnreadableFile(f"the file could not be parsed: {type(exc).__name__}: {exc}") from exc
    if not document.blocks:
        if mime == PDF and limits.ocr is None:
            raise NoTextLayer(disabled_message("the PDF has no text layer (a scan?): it"))
        raise NoTextFound("no text was found in the document")
    return document
