"""A PDF page's text layer, read by PDFium, with pypdf's reader as the fallback.

PDFium (Chrome's PDF engine, through pypdfium2) extracts a page's text in C, about 14 times
faster than pypdf's pure-Python extractor on the shared documents (docs/ocr-and-tables.md has the
figures). pypdf still reads the document's structure (docrag/ingest/parsers/pdf.py): it walks the
page tree, where PDFium trusts ``/Count``, so the pages are pypdf's, and PDFium reads page ``i``
only where the tree is plain enough for that to be pypdf's page ``i``. pypdf extracts a page's
text instead when PDFium can't open the file or load the page, finds no text on it (its text
layer may still be readable), or the text is a scan's OCR layer (:func:`_ocr_layer`).

PDFium has no decompression limit of its own: a stream inflating to gigabytes aborts the parser
at the sandbox's memory cap. So before PDFium loads a page, every stream it will decode for the
page's text (content streams, form XObjects, fonts, Type 3 glyphs) is decompressed once by pypdf
under DOCRAG_MAX_DECOMPRESSED_BYTES, and a bomb fails with pypdf's ``LimitReachedError``.
"""

from __future__ import annotations

import re
from typing import Any

from pypdf.errors import LimitReachedError
from pypdf.filters import decode_stream_data
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

__all__ = ["PageTexts", "normalised"]

# PDFium marks a hyphen it found at a line end with U+FFFE (\x02 in older builds) and joins the
# two lines; the hyphen and the break come back, so the paragraph logic sees pypdf's lines.
_SOFT_HYPHEN = re.compile("[\ufffe\x02](?:\r\n|\r|\n)?")
_LINE_END = re.compile("\r\n?")
#: Font dictionary and descriptor entries holding streams PDFium reads to map glyphs to text.
_FONT_STREAMS = ("/ToUnicode", "/Encoding", "/CIDToGIDMap")
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")
#: Text objects of a page whose render modes tell an OCR layer from the page's own text, and the
#: page objects looked through for them (a drawing has thousands of paths).
_SAMPLE = 32
_OBJECTS = 1000


def normalised(text: str) -> str:
    """PDFium's text with ``\\n`` line ends and its soft-hyphen markers as a hyphen and a break."""
    return _LINE_END.sub("\n", _SOFT_HYPHEN.sub("-\n", text))


class PageTexts:
    """The text of each page of ``reader`` (a pypdf reader of ``data``, already decrypted)."""

    def __init__(self, data: bytes, reader: Any) -> None:
        import pypdfium2

        self._seen: set[tuple[int, int]] = set()  # objects already checked
        self.pdfium: Any = None
        if not _plain_page_tree(reader):  # PDFium's page i may not be pypdf's page i
            return
        try:
            self.pdfium = pypdfium2.PdfDocument(data, password="")
        except pypdfium2.PdfiumError:  # pypdf reads some files PDFium refuses: its text stands
            return

    def text(self, number: int, page: Any) -> str:
        """The text of 1-based page ``number`` (``page``: pypdf's page object for it).

        :raises LimitReachedError: when a stream of the page expands past the limit.
        """
        self._check_streams(page)
        if self.pdfium is not None:
            text = self._pdfium_text(number)
            if text is not None and text.strip():
                return text
        return page.extract_text() or ""

    def _pdfium_text(self, number: int) -> str | None:
        """PDFium's text of the page; ``None`` where pypdf reads it better (or at all)."""
        import pypdfium2

        try:
            pdf_page = self.pdfium[number - 1]
        except pypdfium2.PdfiumError:  # a page PDFium can't load: pypdf's text of it stands
            return None
        try:
            if _ocr_layer(pdf_page):  # before the text page, which costs ~90 bytes a character
                return None
            textpage = pdf_page.get_textpage()
            try:
                return normalised(textpage.get_text_range())
            finally:
                textpage.close()
        except pypdfium2.PdfiumError:
            return None
        finally:
            pdf_page.close()

    def _check_streams(self, page: Any) -> None:
        """Decompress, under the limit, every stream PDFium decodes for this page's text."""
        pending: list[tuple[str, Any]] = [
            ("stream", page.get("/Contents")),
            ("resources", page.get("/Resources")),
        ]
        while pending:
            kind, item = pending.pop()
            item = _resolved(item)
            if isinstance(item, ArrayObject):
                pending.extend((kind, part) for part in item)
            elif isinstance(item, DictionaryObject) and self._first_visit(item):
                pending.extend(_parts(kind, item))
                if isinstance(item, StreamObject):
                    _decode(item)

    def _first_visit(self, item: DictionaryObject) -> bool:
        """False for an object seen before (shared fonts and forms, and reference cycles)."""
        ref = getattr(item, "indirect_reference", None)
        if ref is None:  # a direct object: it can't be shared or make a cycle
            return True
        key = (ref.idnum, ref.generation)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


def _plain_page_tree(reader: Any) -> bool:
    """Whether the page tree's leaves, in order, are pypdf's pages: then PDFium's page ``i`` is
    pypdf's page ``i``.

    PDFium numbers every kid without ``/Kids`` in document order (and a kid that is not a
    dictionary too); pypdf keeps only what it takes for a page. They differ on a damaged tree, a
    ``/Type /Page`` with ``/Kids`` or a leaf of another type, and such a file is read by pypdf alone.
    """
    refs = [page.indirect_reference for page in reader.pages]
    expected = [(ref.idnum, ref.generation) if ref is not None else None for ref in refs]
    leaves: list[tuple[int, int]] = []
    nodes: set[tuple[int, int]] = set()
    pending: list[Any] = [reader.root_object.get("/Pages")]
    while pending:
        ref = pending.pop()
        node = _resolved(ref)
        if not isinstance(ref, IndirectObject) or not isinstance(node, DictionaryObject):
            return False
        key = (ref.idnum, ref.generation)
        if "/Kids" not in node:
            leaves.append(key)
            if len(leaves) > len(expected) or leaves[-1] != expected[len(leaves) - 1]:
                return False
            continue
        kids = _resolved(node.get("/Kids"))
        if not isinstance(kids, ArrayObject) or key in nodes:
            return False
        nodes.add(key)
        pending.extend(reversed(kids))  # popped in document order
    return leaves == expected


def _ocr_layer(pdf_page: Any) -> bool:
    """Whether most of the page's first text objects are invisible: a scan's OCR layer.

    OCR tools fit each word to its image with character spacing and scaling; PDFium infers
    spaces from where glyphs land and splits such words ("Nort h Buon a Vist a"), while pypdf
    keeps the spaces the OCR tool wrote. These pages are light, so pypdf's pace costs little.
    """
    import pypdfium2.raw as pdfium_c

    modes: list[int] = []
    for i in range(min(pdfium_c.FPDFPage_CountObjects(pdf_page), _OBJECTS)):
        obj = pdfium_c.FPDFPage_GetObject(pdf_page, i)
        if obj and pdfium_c.FPDFPageObj_GetType(obj) == pdfium_c.FPDF_PAGEOBJ_TEXT:
            modes.append(pdfium_c.FPDFTextObj_GetTextRenderMode(obj))
            if len(modes) == _SAMPLE:
                break
    invisible: int = sum(mode == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE for mode in modes)
    return invisible > len(modes) / 2


def _parts(kind: str, item: DictionaryObject) -> list[tuple[str, Any]]:
    """What a resource dictionary, form or font refers to that PDFium decodes for text."""
    if kind == "resources":
        forms = [x for x in _values(item.get("/XObject")) if _get(x, "/Subtype") == "/Form"]
        return [("font", f) for f in _values(item.get("/Font"))] + [("form", x) for x in forms]
    if kind == "form":
        return [("resources", item.get("/Resources"))]
    if kind != "font":
        return []
    parts = [("stream", item.get(key)) for key in _FONT_STREAMS]
    parts += [("stream", glyph) for glyph in _values(item.get("/CharProcs"))]  # Type 3 glyphs
    parts += [("resources", item.get("/Resources")), ("font", item.get("/DescendantFonts"))]
    descriptor = _resolved(item.get("/FontDescriptor"))
    if isinstance(descriptor, DictionaryObject):
        parts += [("stream", descriptor.get(key)) for key in _FONT_FILES]
    return parts


def _decode(stream: StreamObject) -> None:
    try:
        decode_stream_data(stream)  # the bytes are dropped: only the limit matters here
    except (LimitReachedError, MemoryError):
        raise
    except Exception:  # a damaged stream: whether the page is readable is PDFium's to say
        return


def _resolved(item: Any) -> Any:
    try:
        return item.get_object() if item is not None else None
    except Exception:  # a reference to a missing or damaged object: nothing to decode there
        return None


def _values(item: Any) -> list[Any]:
    resolved = _resolved(item)
    return list(resolved.values()) if isinstance(resolved, DictionaryObject) else []


def _get(item: Any, key: str) -> Any:
    resolved = _resolved(item)
    return resolved.get(key) if isinstance(resolved, DictionaryObject) else None
