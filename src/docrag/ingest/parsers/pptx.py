"""PPTX parsing with python-pptx: slides in order, each a section under its title, with its
text frames, tables (as :class:`~docrag.domain.Table`) and speaker notes; the slide number is
the block's page, so citations name the slide."""

from __future__ import annotations

import io
import warnings
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument, Table
from docrag.errors import DocRAGError, TooManyPages, UnreadableFile
from docrag.ingest.formats import PPTX
from docrag.ingest.parsers.container import check_zip

MIME = PPTX
_MAX_DEPTH = 20  # nested group shapes


def parse_pptx(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    """:raises TooManyPages: past ``max_pages`` slides; the container errors of
    :func:`~docrag.ingest.parsers.container.check_zip`; UnreadableFile for a damaged file."""
    check_zip(data, max_decompressed, "PPTX")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _parse(data, max_pages)
    except (DocRAGError, MemoryError):
        raise
    except Exception as exc:  # python-pptx / lxml errors on damaged files
        raise UnreadableFile(f"the PPTX file could not be read: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes, max_pages: int) -> ParsedDocument:
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    slides = list(presentation.slides)
    if len(slides) > max_pages:
        raise TooManyPages(f"the presentation has {len(slides)} slides; the limit is {max_pages}")
    builder = DocumentBuilder(MIME)
    builder.page_count = len(slides)
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join((title_shape.text_frame.text if title_shape is not None else "").split())
        builder.add(BlockKind.HEADING, title or f"Slide {number}", page=number, level=1)
        for shape in slide.shapes:
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            _add_shape(builder, shape, number, 0)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                builder.add(BlockKind.HEADING, "Speaker notes", page=number, level=2)
                builder.add(BlockKind.PARAGRAPH, notes.text, page=number)
    core_title = " ".join((presentation.core_properties.title or "").split())
    builder.title = core_title or builder.title
    return builder.build()


def _add_shape(builder: DocumentBuilder, shape: Any, page: int, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if getattr(shape, "shapes", None) is not None and not getattr(shape, "has_text_frame", False):
        for child in shape.shapes:  # a group shape
            _add_shape(builder, child, page, depth + 1)
        return
    if getattr(shape, "has_table", False):
        builder.add_table(_table(shape.table), page=page)
        return
    if getattr(shape, "has_text_frame", False):
        for paragraph in shape.text_frame.paragraphs:
            text = "".join(run.text for run in paragraph.runs) or paragraph.text
            kind = BlockKind.LIST_ITEM if paragraph.level > 0 else BlockKind.PARAGRAPH
            builder.add(kind, text, page=page)


def _table(table: Any) -> Table:
    rows = [tuple(" ".join(cell.text.split()) for cell in row.cells) for row in table.rows]
    if not rows:
        return Table((), ())
    return Table(rows[0], tuple(rows[1:]))
