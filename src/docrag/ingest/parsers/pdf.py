"""PDF text extraction: one block per paragraph, with its 1-based page.

pypdf reads the structure (encryption, the page tree, the outline, the title) and PDFium each
page's text (docrag/ingest/parsers/pdf_text.py). Pages with ruled tables are read by pdfplumber
instead (docrag/ingest/parsers/pdf_tables.py), and pages without a text layer by OCR when it is
on (docrag/ingest/parsers/ocr.py)."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from contextlib import AbstractContextManager
from typing import Any

import pypdf
from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument, TextBox
from docrag.errors import DecompressionBomb, DocRAGError, EncryptedFile, TooManyPages, UnreadableFile
from docrag.ingest.parsers.ocr import OcrOptions, ScannedPages
from docrag.ingest.parsers.pdf_tables import PageTables
from docrag.ingest.parsers.pdf_text import PageTexts
from docrag.ingest.tables import table_text

MIME = "application/pdf"
MAX_PAGES = 2000
MAX_DECOMPRESSED = 200 * 1024 * 1024
# pypdf's LimitReachedError messages that mean "this stream expands too far".
_DECOMPRESSION_SIGNS = ("decompress", "Declared size", "Declared stream length", "image size")

_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n")
_BULLET = re.compile(r"^([\u2022\u25cf\u25aa\u2013\-*•]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)]$")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]|\d+(?:\.\d+)*)[.)]?\s+")


def parse_pdf(
    data: bytes,
    max_pages: int = MAX_PAGES,
    max_decompressed: int = MAX_DECOMPRESSED,
    ocr: OcrOptions | None = None,
) -> ParsedDocument:
    """:raises TooManyPages: past ``max_pages`` real pages (the page tree is walked; ``/Count``
    may lie); :raises DecompressionBomb: when a stream expands past ``max_decompressed`` bytes."""
    with warnings.catch_warnings(), _limits(max_decompressed):
        warnings.simplefilter("ignore")
        try:
            return _parse(data, max_pages, ocr)
        except (DocRAGError, MemoryError):
            raise
        except LimitReachedError as exc:
            raise _limit_error(exc) from exc
        except DependencyError as exc:
            raise EncryptedFile(f"the PDF is AES-encrypted and can't be decrypted here: {exc}") from exc
        except Exception as exc:  # pypdf raises many kinds on damaged files
            raise UnreadableFile(f"the PDF could not be read: {type(exc).__name__}: {exc}") from exc


def _limits(max_decompressed: int) -> AbstractContextManager[Any]:
    """pypdf's own decompression limits set to ours (its other limits keep their defaults)."""
    apply_configuration = getattr(pypdf, "apply_configuration", None)
    if apply_configuration is None:  # pypdf < 7: its fixed 75 MB limits apply
        return contextlib.nullcontext()
    context: AbstractContextManager[Any] = apply_configuration(
        maximum_declared_stream_length=max_decompressed,
        array_based_stream_maximum_output_length=max_decompressed,
        jbig2_maximum_output_length=max_decompressed,
        lzw_maximum_output_length=max_decompressed,
        run_length_maximum_output_length=max_decompressed,
        zlib_maximum_output_length=max_decompressed,
        brotli_maximum_output_length=max_decompressed,
        image_maximum_buffer_size=max_decompressed,
        stream_decoding_work_maximum_length=max(max_decompressed, 300_000_000),
    )
    return context


def _limit_error(exc: LimitReachedError) -> DocRAGError:
    message = str(exc)
    if any(sign in message for sign in _DECOMPRESSION_SIGNS):
        return DecompressionBomb(f"a PDF stream expands past the decompression limit: {message}")
    return UnreadableFile(f"the PDF could not be read: a limit was reached: {message}")


def _parse(data: bytes, max_pages: int, ocr: OcrOptions | None) -> ParsedDocument:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except FileNotDecryptedError as exc:
            raise EncryptedFile("the PDF is password-protected") from exc
        if not decrypted:
            raise EncryptedFile("the PDF is password-protected")

    builder = DocumentBuilder(MIME)
    builder.title = _metadata_title(reader)
    pages = reader.pages
    builder.page_count = len(pages)  # the walked page tree, not the file's /Count
    if builder.page_count > max_pages:
        raise TooManyPages(f"the PDF has {builder.page_count} pages; the limit is {max_pages}")
    outline = _outline_by_page(reader)
    errors: list[Exception] = []
    scans = ScannedPages(data, ocr) if ocr is not None else None
    tables = PageTables(data)
    texts = PageTexts(data, reader)
    boxes: list[TextBox] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = texts.text(number, page)
        except Exception as exc:  # one damaged page shouldn't lose the rest
            if isinstance(exc, MemoryError):
                raise
            if isinstance(exc, LimitReachedError):
                error = _limit_error(exc)
                if isinstance(error, DecompressionBomb):
                    raise error from exc
            if isinstance(exc, (FileNotDecryptedError, DependencyError)):
                raise EncryptedFile(f"the PDF is encrypted and can't be decrypted here: {exc}") from exc
            errors.append(exc)
            continue
        if not text.strip() and scans is not None:  # no text layer: a scanned page
            boxes.extend(scans.ocr(number, builder))
            continue
        regions = tables.regions(number) if text.strip() else None
        for kind, content in regions or [("text", text)]:
            if kind == "table":
                builder.add(BlockKind.TABLE, table_text(content), page=number)
            else:
                _add_page(builder, content, number, outline.get(number, []))
    doc = builder.build(tuple(boxes))
    if not doc.blocks and errors:
        first = errors[0]
        raise UnreadableFile(
            f"the PDF text could not be extracted: {type(first).__name__}: {first}"
        ) from first
    return doc


def _metadata_title(reader: Any) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata is not None else None
    except Exception:
        return None
    if not isinstance(title, str):
        return None
    return " ".join(title.replace("\x00", "").split()) or None


def _outline_by_page(reader: Any) -> dict[int, list[tuple[str, int]]]:
    """Outline (bookmark) titles with their level, keyed by 1-based page number."""
    found: dict[int, list[tuple[str, int]]] = {}

    def walk(items: Any, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                title = " ".join(str(item.title).split())
                page = reader.get_destination_page_number(item)
            except Exception:
                continue
            if title and page is not None and page >= 0:
                found.setdefault(page + 1, []).append((title, level))

    try:
        walk(reader.outline, 1)
    except Exception:
        return {}
    return found


def _add_page(builder: DocumentBuilder, text: str, page: int, headings: list[tuple[str, int]]) -> None:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    pending = list(headings)
    for chunk in _BLANK_LINES.split(text):
        lines = [" ".join(line.split()) for line in chunk.split("\n")]
        lines = [line for line in lines if line]
        width = max((len(line) for line in lines), default=0)
        paragraph: list[str] = []
        for line in lines:
            level = _heading_level(line, pending)
            if level:
                _flush(builder, paragraph, page)
                builder.add(BlockKind.HEADING, line, page=page, level=level)
                continue
            if paragraph and _starts_new_paragraph(paragraph[-1], line, width):
                _flush(builder, paragraph, page)
            paragraph.append(line)
        _flush(builder, paragraph, page)


def _heading_level(line: str, pending: list[tuple[str, int]]) -> int:
    """The outline level when ``line`` is the next outline title on this page, else 0."""
    if not pending:
        return 0
    title, level = pending[0]
    bare = _SECTION_NUMBER.sub("", line, count=1)
    if line.casefold() == title.casefold() or bare.casefold() == title.casefold():
        pending.pop(0)
        return level
    return 0


def _starts_new_paragraph(previous: str, line: str, width: int) -> bool:
    """Without blank lines: a short line ending a sentence, or a bullet, ends a paragraph."""
    if _BULLET.match(line):
        return True
    return bool(_SENTENCE_END.search(previous)) and len(previous) < 0.75 * width and width > 40


def _flush(builder: DocumentBuilder, paragraph: list[str], page: int) -> None:
    if not paragraph:
        return
    # Parts joined once at the end: adding each line to the text so far copies it every time,
    # quadratic in a page-long paragraph (80,000 lines took 34 s).
    parts = [paragraph[0]]
    tail = paragraph[0][-2:]  # the text's last two characters, all _HYPHENATED looks at
    for line in paragraph[1:]:
        if _HYPHENATED.search(tail) and line[:1].islower():
            parts[-1] = parts[-1][:-1]  # the hyphen ends the last part: lines are never empty
            parts.append(line)
            tail = (tail[:-1] + line)[-2:]
        else:
            parts.append(f" {line}")
            tail = f" {line}"[-2:]
    builder.add(BlockKind.PARAGRAPH, "".join(parts), page=page)
    paragraph.clear()
