"""File type detection from the bytes themselves (the file name only breaks text ties)."""

from __future__ import annotations

import codecs
import io
import re
import zipfile

from docrag.errors import DecompressionBomb, EmptyFile, UnreadableFile, UnsupportedFileType
from docrag.ingest.formats import bytes_format, ole_kind, text_format, zip_format

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
#: Images read with OCR (docrag/ingest/parsers/ocr.py), when DOCRAG_OCR is on.
IMAGES = frozenset({PNG, JPEG, TIFF})
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG), (b"II*\x00", TIFF), (b"MM\x00*", TIFF))

_MARKDOWN_EXTS = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")
_SNIFF = 8192
_MAX_ZIP_ENTRIES = 10_000

# (offset, magic, what it is); checked in order.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"),
    (0, b"GIF87a", "GIF image"),
    (0, b"GIF89a", "GIF image"),
    (0, b"II*\x00", "TIFF image"),
    (0, b"MM\x00*", "TIFF image"),
    (0, b"\x00\x00\x01\x00", "ICO image"),
    (0, b"\x1f\x8b", "gzip archive"),
    (0, b"BZh", "bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "xz archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (0, b"\x28\xb5\x2f\xfd", "zstd archive"),
    (257, b"ustar", "tar archive"),
    (0, b"\x7fELF", "ELF executable"),
    (0, b"\xca\xfe\xba\xbe", "Java class / Mach-O binary"),
    (0, b"\xcf\xfa\xed\xfe", "Mach-O binary"),
    (0, b"\x00asm", "WebAssembly binary"),
    (0, b"SQLite format 3\x00", "SQLite database"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office (.doc/.xls/.ppt/.msg) or encrypted Office file"),
    (0, b"{\\rtf", "RTF document"),
    (0, b"%!PS", "PostScript document"),
    (0, b"ID3", "MP3 audio"),
    (0, b"OggS", "Ogg media"),
    (0, b"fLaC", "FLAC audio"),
    (4, b"ftyp", "MP4/QuickTime/HEIC media"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM media"),
    (0, b"wOFF", "WOFF font"),
    (0, b"wOF2", "WOFF2 font"),
    (0, b"OTTO", "OpenType font"),
    (0, b"\x00\x01\x00\x00\x00", "TrueType font"),
    (0, b"AT&TFORM", "DjVu document"),
)

_RIFF_KINDS = {b"WAVE": "WAV audio", b"AVI ": "AVI video", b"WEBP": "WebP image"}

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)
_SETEXT_EQ = re.compile(r"^ {0,3}\S[^\n]*\n {0,3}=+[ \t]*$", re.M)
_SETEXT_DASH = re.compile(r"^ {0,3}[^\s\-][^\n]*\n {0,3}-{2,}[ \t]*$", re.M)
_TABLE_DELIM = re.compile(r"^ *\|? *:?-{3,}:? *(\| *:?-{3,}:? *)+\|? *$", re.M)
_LIST = re.compile(r"^ {0,3}([-*+]|\d{1,9}[.)])[ \t]+\S", re.M)
_LINK = re.compile(r"!?\[[^\]\n]+\]\([^)\s]+[^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__)\S[^\n]*?\S\1")
_QUOTE = re.compile(r"^ {0,3}>[ \t]?\S", re.M)
_HTML_TAG = re.compile(r"<(head|body|p|div|table|h[1-6]|ul|ol|title|meta|section|article)\b[^>]*>", re.I)


def detect_type(data: bytes, filename: str | None = None) -> str:
    """The MIME type of ``data``, decided from its bytes.

    Raises :class:`EmptyFile`, :class:`UnsupportedFileType` or :class:`UnreadableFile`.
    """
    if not data.strip():
        raise EmptyFile("the file is empty")
    if b"%PDF-" in data[: 1024 + 5]:
        return PDF
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _zip_type(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return ole_kind(data)  # Outlook .msg, or a typed refusal (legacy Office, encrypted)
    for magic, image in _IMAGE_MAGIC:
        if data.startswith(magic):
            return image
    kind = _binary_kind(data)
    if kind is not None and kind != "RTF document":
        raise UnsupportedFileType(f"unsupported file type: {kind}")
    early = bytes_format(data, filename)  # RTF, e-mail, CSV/TSV: before decoding as UTF-8
    if early is not None:
        return early
    text = decode_text(data)
    if not text.strip():
        raise EmptyFile("the file contains only whitespace")
    return _text_type(text, filename)


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-8 (BOM optional), or UTF-16/32 with a BOM. NULs are dropped.

    Invalid UTF-8 is :class:`UnreadableFile`; text whose first 8 KiB is more than 5 % NULs and
    other control characters is binary (:class:`UnsupportedFileType`).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"the text is not valid {encoding.upper()}: {exc.reason}") from exc
            return _check_text(text)
    if b"\x00" in data[:_SNIFF]:
        # UTF-16 without a BOM, or UTF-8 with stray NULs (dropped, wherever they are), else binary.
        utf16 = _bomless_utf16(data)
        try:
            return _check_text(data.decode(utf16 or "utf-8"))
        except UnicodeDecodeError as exc:
            raise UnsupportedFileType("unsupported file type: binary data (contains NUL bytes)") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"the text is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8 and upload it again"
        ) from exc
    return _check_text(text)


def _check_text(text: str) -> str:
    sample = text[:_SNIFF]
    if sample and len(_CONTROL.findall(sample)) > 0.05 * len(sample):  # NULs count too
        raise UnsupportedFileType("unsupported file type: binary data (too many control characters)")
    return text.replace("\x00", "")


def _bomless_utf16(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NULs sit in every other byte, as in UTF-16 ASCII text."""
    sample = data[: _SNIFF - (_SNIFF % 2)]
    if len(data) % 2 or len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) > 0.9 * half and even.count(0) < 0.1 * half:
        return "utf-16-le"
    if even.count(0) > 0.9 * half and odd.count(0) < 0.1 * half:
        return "utf-16-be"
    return None


def _binary_kind(data: bytes) -> str | None:
    for offset, magic, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF":
        return _RIFF_KINDS.get(data[8:12], "RIFF media")
    if data[:2] == b"MZ" and b"\x00" in data[:64]:
        return "Windows executable"
    if data[:2] == b"BM" and data[6:10] == b"\x00\x00\x00\x00":
        return "BMP image"
    return None


def _zip_type(data: bytes) -> str:
    # Checked before zipfile builds one object per entry (this runs in the API process too).
    if data.count(b"PK\x01\x02") > _MAX_ZIP_ENTRIES:
        raise DecompressionBomb(f"the ZIP container has more than {_MAX_ZIP_ENTRIES} entries")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            mimetype = content_types = b""
            if "mimetype" in names:
                with archive.open("mimetype") as part:  # never all of it: it could be a bomb
                    mimetype = part.read(100)
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as part:
                    content_types = part.read(65536)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise UnreadableFile(f"the ZIP/DOCX container is corrupt: {exc}") from exc
    except NotImplementedError as exc:  # e.g. an unsupported compression method for "mimetype"
        raise UnreadableFile(f"the ZIP container can't be read: {exc}") from exc
    if "word/document.xml" in names:
        return DOCX
    found = zip_format(names, mimetype, content_types)  # PPTX, XLSX/XLSM, ODT/ODS, EPUB
    if found is not None:
        return found
    raise UnsupportedFileType("unsupported file type: ZIP archive")


def _text_type(text: str, filename: str | None) -> str:
    records = text_format(text, filename)  # JSON, NDJSON
    if records is not None:
        return records
    head = _skip_prolog(text[:_SNIFF])
    lowered = head[:64].lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return HTML
    if text.lstrip("\ufeff \t\r\n").startswith("<?xml"):
        return TEXT  # XML other than XHTML
    sample = text[:65536]
    strong, weak = _markdown_signals(sample)
    if strong:
        return MARKDOWN
    tags = {m.group(1).lower() for m in _HTML_TAG.finditer(head[:4096])}
    if (head.startswith("<") and tags) or tags & {"head", "body"} or len(tags) >= 3:
        return HTML
    name = (filename or "").lower()
    if name.endswith(_MARKDOWN_EXTS):
        return MARKDOWN
    if weak >= 2 and not name.endswith(".txt"):
        return MARKDOWN
    return TEXT


def _skip_prolog(text: str) -> str:
    """Drop a leading BOM, whitespace, XML declaration and comments."""
    rest = text.lstrip("\ufeff \t\r\n")
    while True:
        if rest.startswith("<?xml"):
            end = rest.find("?>")
            rest = rest[end + 2 :] if end >= 0 else ""
        elif rest.startswith("<!--"):
            end = rest.find("-->")
            rest = rest[end + 3 :] if end >= 0 else ""
        else:
            return rest
        rest = rest.lstrip(" \t\r\n")


def _markdown_signals(text: str) -> tuple[int, int]:
    """(strong, weak) counts of kinds of Markdown structure found in ``text``."""
    strong = sum(1 for pattern in (_ATX, _SETEXT_EQ, _TABLE_DELIM) if pattern.search(text))
    if len(_FENCE.findall(text)) >= 2:
        strong += 1
    weak = sum(1 for pattern in (_LINK, _EMPHASIS, _QUOTE, _SETEXT_DASH) if pattern.search(text))
    if len(_LIST.findall(text)) >= 2:
        weak += 1
    return strong, weak
