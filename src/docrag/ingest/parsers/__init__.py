"""Parse uploaded bytes into a :class:`ParsedDocument`, dispatching on the detected type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError, NoTextFound, NoTextLayer, ParseMemoryExceeded, UnreadableFile
from docrag.ingest import formats
from docrag.ingest.detect import DOCX, HTML, IMAGES, MARKDOWN, PDF, TEXT, detect_type
from docrag.ingest.parsers.delimited import parse_csv
from docrag.ingest.parsers.docx import MAX_UNCOMPRESSED, parse_docx
from docrag.ingest.parsers.epub import parse_epub
from docrag.ingest.parsers.html import parse_html
from docrag.ingest.parsers.mail import parse_eml
from docrag.ingest.parsers.markdown import parse_markdown
from docrag.ingest.parsers.msg import parse_msg
from docrag.ingest.parsers.ocr import OcrOptions, disabled_message, parse_image
from docrag.ingest.parsers.opendocument import parse_ods, parse_odt
from docrag.ingest.parsers.pdf import MAX_PAGES, parse_pdf
from docrag.ingest.parsers.pptx import parse_pptx
from docrag.ingest.parsers.records import parse_json, parse_ndjson
from docrag.ingest.parsers.rtf import parse_rtf
from docrag.ingest.parsers.sheets import parse_xlsx
from docrag.ingest.parsers.text import parse_text

__all__ = ["BOUNDED_PARSERS", "PARSERS", "OcrOptions", "ParseLimits", "parse"]


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
    formats.CSV: parse_csv,
    formats.TSV: lambda data: parse_csv(data, formats.TSV),
    formats.JSON: parse_json,
    formats.NDJSON: parse_ndjson,
    formats.RTF: parse_rtf,
}

#: Parsers that take (data, max_pages, max_decompressed_bytes).
BOUNDED_PARSERS: dict[str, Callable[[bytes, int, int], ParsedDocument]] = {
    formats.PPTX: parse_pptx,
    formats.XLSX: parse_xlsx,
    formats.XLSM: lambda data, pages, size: parse_xlsx(data, pages, size, formats.XLSM),
    formats.ODS: parse_ods,
    formats.ODT: parse_odt,
    formats.EPUB: parse_epub,
    formats.EML: parse_eml,
    formats.MSG: parse_msg,
}


def parse(
    data: bytes, filename: str | None = None, limits: ParseLimits | None = None, mime: str | None = None
) -> ParsedDocument:
    """Parse ``data`` as ``mime``, the type detected when it was submitted, or (none known)
    detect it here; every failure is a :class:`DocRAGError`.

    Only the page and decompression ``limits`` apply here; time and memory are bounded by
    running this in :mod:`docrag.ingest.sandbox`.
    """
    limits = limits or ParseLimits()
    try:
        mime = mime or detect_type(data, filename)
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
        elif mime in BOUNDED_PARSERS:
            document = BOUNDED_PARSERS[mime](data, limits.max_pages, limits.max_decompressed_bytes)
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
