"""OCR with Tesseract: PNG, JPEG and TIFF images, and PDF pages without a text layer.

Tesseract (the Debian packages ``tesseract-ocr`` and ``tesseract-ocr-<lang>``) runs as a child
process of the parser process, so it inherits the sandbox's address-space and CPU limits
(docrag/ingest/sandbox.py); each page also has its own wall-clock limit
(``DOCRAG_OCR_PAGE_SECONDS``). An image is refused before it is decoded when it has more pixels
than ``DOCRAG_OCR_MAX_PIXELS``; a PDF page is rendered at :data:`DPI`, or smaller to fit that cap.

Each paragraph Tesseract finds becomes a block; each of its lines keeps its page and pixel box
(:class:`docrag.domain.TextBox`), so a quote can be shown where it sits on the page.

    OCR off (DOCRAG_OCR=off) and an image is uploaded   OcrDisabled     415 ocr_disabled
    more pixels than DOCRAG_OCR_MAX_PIXELS              ImageTooLarge   413 image_too_large
    Tesseract missing, failing or past its page limit   OcrFailed       422 ocr_failed
    a damaged image                                     UnreadableFile  422 unreadable_file
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import warnings
from dataclasses import dataclass
from typing import Any

from docrag.domain import BlockKind, DocumentBuilder, ParsedDocument, TextBox
from docrag.errors import DocRAGError, ImageTooLarge, OcrDisabled, OcrFailed, TooManyPages, UnreadableFile

__all__ = ["DPI", "OcrOptions", "ScannedPages", "disabled_message", "ocr_page", "parse_image"]

#: Resolution scanned PDF pages are rendered at (Tesseract reads best at 200-300 DPI).
DPI = 200
_WORD_MIN_CONFIDENCE = 0.0


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """DOCRAG_OCR_LANGUAGES (Tesseract codes joined by ``+``), DOCRAG_OCR_PAGE_SECONDS and
    DOCRAG_OCR_MAX_PIXELS."""

    languages: str = "eng"
    page_seconds: float = 60.0
    max_pixels: int = 40_000_000


def disabled_message(what: str) -> str:
    return f"{what} can only be read with OCR, which is off here: set DOCRAG_OCR=on to index it"


def parse_image(data: bytes, mime: str, options: OcrOptions | None, *, max_pages: int) -> ParsedDocument:
    """Every frame of a PNG, JPEG or TIFF image, OCR'd as one page each."""
    if options is None:
        raise OcrDisabled(disabled_message("an image"))
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))  # reads the header only
    except Exception as exc:
        raise UnreadableFile(f"the image could not be read: {type(exc).__name__}: {exc}") from exc
    frames = getattr(image, "n_frames", 1)
    if frames > max_pages:
        raise TooManyPages(f"the image has {frames} pages; the limit is {max_pages}")
    builder = DocumentBuilder(mime)
    builder.page_count = frames
    boxes: list[TextBox] = []
    for number in range(frames):
        try:
            image.seek(number)
            _check_pixels(image.width, image.height, options)
            frame = image.convert("L")  # decodes this frame only
        except DocRAGError:
            raise
        except Exception as exc:
            raise UnreadableFile(f"the image could not be decoded: {type(exc).__name__}: {exc}") from exc
        boxes.extend(ocr_page(builder, frame, number + 1, options))
    return builder.build(tuple(boxes))


def _check_pixels(width: int, height: int, options: OcrOptions) -> None:
    if width * height > options.max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels, more than DOCRAG_OCR_MAX_PIXELS ({options.max_pixels})"
        )


def render_scale(width_pt: float, height_pt: float, options: OcrOptions) -> float:
    """The pypdfium2 scale (pixels per point) for a page: :data:`DPI`, or less to fit the cap."""
    scale = DPI / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > options.max_pixels:
        scale *= (options.max_pixels / pixels) ** 0.5
    return scale


class ScannedPages:
    """Renders a PDF's pages with PDFium for OCR; the document opens on the first page asked for."""

    def __init__(self, data: bytes, options: OcrOptions) -> None:
        self._data = data
        self._options = options
        self._pdf: Any = None

    def ocr(self, page: int, builder: DocumentBuilder) -> list[TextBox]:
        """OCR 1-based ``page`` into ``builder``; returns its line boxes."""
        import pypdfium2

        try:
            if self._pdf is None:
                self._pdf = pypdfium2.PdfDocument(self._data, password="")
            pdf_page = self._pdf[page - 1]
            width, height = pdf_page.get_size()
            bitmap = pdf_page.render(scale=render_scale(width, height, self._options), grayscale=True)
            image = bitmap.to_pil()
        except Exception as exc:  # PDFium on a damaged page: its text is lost, not the file
            raise OcrFailed(
                f"page {page} could not be rendered for OCR: {type(exc).__name__}: {exc}"
            ) from exc
        return ocr_page(builder, image, page, self._options)


def ocr_page(builder: DocumentBuilder, image: Any, page: int, options: OcrOptions) -> list[TextBox]:
    """OCR one page image (a PIL image) into ``builder``; returns its line boxes."""
    png = io.BytesIO()
    image.save(png, format="PNG")
    rows = _tesseract(png.getvalue(), options)
    paragraphs: dict[tuple[int, int], dict[int, list[dict[str, str]]]] = {}
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text or float(row.get("conf") or -1) < _WORD_MIN_CONFIDENCE:
            continue
        key = (int(row["block_num"]), int(row["par_num"]))
        paragraphs.setdefault(key, {}).setdefault(int(row["line_num"]), []).append(row)
    boxes: list[TextBox] = []
    for _, lines in sorted(paragraphs.items()):
        texts = [" ".join(" ".join(w["text"].split()) for w in words) for _, words in sorted(lines.items())]
        paragraph = "\n".join(texts)
        builder.add(BlockKind.PARAGRAPH, paragraph, page=page)
        start = builder.length - len(paragraph)
        for text, (_, words) in zip(texts, sorted(lines.items()), strict=True):
            boxes.append(TextBox(start, start + len(text), page, _union(words), image.width, image.height))
            start += len(text) + 1
    return boxes


def _union(words: list[dict[str, str]]) -> tuple[int, int, int, int]:
    left = min(int(w["left"]) for w in words)
    top = min(int(w["top"]) for w in words)
    right = max(int(w["left"]) + int(w["width"]) for w in words)
    bottom = max(int(w["top"]) + int(w["height"]) for w in words)
    return left, top, right, bottom


def _tesseract(png: bytes, options: OcrOptions) -> list[dict[str, str]]:
    """Tesseract's TSV output (one row per page, block, paragraph, line and word) for one image."""
    command = ["tesseract", "stdin", "stdout", "-l", options.languages, "--psm", "3", "tsv"]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core per parse, as the other parsers
    try:
        done = subprocess.run(
            command, input=png, capture_output=True, timeout=options.page_seconds, env=env, check=False
        )
    except FileNotFoundError as exc:
        raise OcrFailed("OCR is on but Tesseract is not installed (apt-get install tesseract-ocr)") from exc
    except subprocess.TimeoutExpired as exc:
        raise OcrFailed(
            f"OCR of a page took longer than DOCRAG_OCR_PAGE_SECONDS ({options.page_seconds:g} s)"
        ) from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise OcrFailed(f"Tesseract failed on a page: {detail[0][:300]}")
    reader = csv.DictReader(
        io.StringIO(done.stdout.decode(errors="replace")), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    return list(reader)
