"""EPUB parsing: the package document (OPF) found through ``META-INF/container.xml``, its spine
read in order, and each XHTML chapter parsed by the HTML parser; a chapter's headings make its
sections (a chapter without one gets its ``<title>``), the spine position is its page."""

from __future__ import annotations

import io
import posixpath
import zipfile
from typing import Any
from urllib.parse import unquote

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import DocRAGError, TooManyPages, UnreadableFile
from docrag.ingest.formats import EPUB
from docrag.ingest.parsers.container import check_zip, parse_xml
from docrag.ingest.parsers.html import parse_html

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XHTML = ("application/xhtml+xml", "text/html")


def parse_epub(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    check_zip(data, max_decompressed, "EPUB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _parse(archive, max_pages)
    except (DocRAGError, MemoryError):
        raise
    except KeyError as exc:
        raise UnreadableFile(f"the EPUB file lacks a part it refers to: {exc}") from exc
    except Exception as exc:  # lxml syntax errors, zipfile errors
        raise UnreadableFile(f"the EPUB file could not be read: {type(exc).__name__}: {exc}") from exc


def _parse(archive: zipfile.ZipFile, max_pages: int) -> ParsedDocument:
    container = parse_xml(archive.read("META-INF/container.xml"))
    rootfile = container.find(f"{_CONTAINER}rootfiles/{_CONTAINER}rootfile")
    if rootfile is None or not rootfile.get("full-path"):
        raise UnreadableFile("the EPUB file names no package document (OPF)")
    opf_path = rootfile.get("full-path")
    package = parse_xml(archive.read(opf_path))
    base = posixpath.dirname(opf_path)
    manifest: dict[str, tuple[str, str]] = {}
    for item in package.iter(f"{_OPF}item"):
        href = posixpath.normpath(posixpath.join(base, unquote(item.get("href") or "")))
        manifest[item.get("id") or ""] = (href, item.get("media-type") or "")
    spine = [
        manifest[ref.get("idref") or ""]
        for ref in package.iter(f"{_OPF}itemref")
        if ref.get("idref") in manifest
    ]
    chapters = [href for href, media in spine if media in _XHTML]
    if len(chapters) > max_pages:
        raise TooManyPages(f"the EPUB has {len(chapters)} chapters; the limit is {max_pages}")
    builder = DocumentBuilder(EPUB)
    builder.page_count = len(chapters)
    for number, href in enumerate(chapters, start=1):
        _add_chapter(builder, parse_html(archive.read(href)), number)
    title = package.find(f"{_OPF}metadata/{_DC}title")
    builder.title = " ".join((title.text or "").split()) or None if title is not None else builder.title
    return builder.build()


def _add_chapter(builder: DocumentBuilder, chapter: ParsedDocument, page: int) -> None:
    blocks: Any = chapter.blocks
    if blocks and blocks[0].kind is not BlockKind.HEADING and chapter.title:
        builder.add(BlockKind.HEADING, chapter.title, page=page, level=1)
    for block in blocks:
        text = chapter.text[block.start : block.end]
        builder.add(block.kind, text, page=page, level=block.level)
