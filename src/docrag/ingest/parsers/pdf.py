"""PDF text extraction with pypdf: one block per paragraph, with its 1-based page."""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

from pypdf.errors import DependencyError, FileNotDecryptedError

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import DocRAGError, EncryptedFile, UnreadableFile

MIME = "application/pdf"

_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n")
_BULLET = re.compile(r"^([\u2022\u25cf\u25aa\u2013\-*•]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")
_SENTENCE_END = re.compile(r"[.!?:;\"”’)]$")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]|\d+(?:\.\d+)*)[.)]?\s+")


def parse_pdf(data: bytes) -> ParsedDocument:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _parse(data)
        except DocRAGError:
            raise
        except DependencyError as exc:
            raise EncryptedFile(f"the PDF is AES-encrypted and can't be decrypted here: {exc}") from exc
        except Exception as exc:  # pypdf raises many kinds on damaged files
            raise UnreadableFile(f"the PDF could not be read: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes) -> ParsedDocument:
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
    builder.page_count = len(pages)
    outline = _outline_by_page(reader)
    errors: list[Exception] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # one damaged page shouldn't lose the rest
            if isinstance(exc, (FileNotDecryptedError, DependencyError)):
                raise EncryptedFile(f"the PDF is encrypted and can't be decrypted here: {exc}") from exc
            errors.append(exc)
            continue
        _add_page(builder, text, number, outline.get(number, []))
    doc = builder.build()
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
    text = paragraph[0]
    for line in paragraph[1:]:
        hyphenated = bool(_HYPHENATED.search(text)) and line[:1].islower()
        text = text[:-1] + line if hyphenated else f"{text} {line}"
    builder.add(BlockKind.PARAGRAPH, text, page=page)
    paragraph.clear()
