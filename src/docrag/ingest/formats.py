"""Detection of the issue-19 formats: Office/OpenDocument/EPUB containers, Outlook and legacy
OLE files, RTF, e-mail, CSV/TSV and JSON/NDJSON. :mod:`docrag.ingest.detect` asks these first.

Everything here runs in the API process on untrusted bytes: it reads at most a few small
ZIP members (bounded reads) and scans bytes, never building a document.
"""

from __future__ import annotations

import json
import re

from docrag.errors import EncryptedFile, UnsupportedFileType

PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM = "application/vnd.ms-excel.sheet.macroenabled.12"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
EPUB = "application/epub+zip"
RTF = "application/rtf"
EML = "message/rfc822"
MSG = "application/vnd.ms-outlook"
CSV = "text/csv"
TSV = "text/tab-separated-values"
JSON = "application/json"
NDJSON = "application/x-ndjson"

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_LINE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]?[^\r\n]*\r?$")
_MAIL_HEADERS = frozenset(
    {b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"mime-version", b"received",
     b"return-path", b"delivered-to", b"reply-to", b"content-type", b"x-mailer", b"sender"}
)  # fmt: skip


def zip_format(names: set[str], mimetype: bytes, content_types: bytes) -> str | None:
    """The format of a ZIP container from its member names and first bytes of two members."""
    if mimetype.startswith(b"application/epub"):
        return EPUB
    if mimetype.startswith(b"application/vnd.oasis.opendocument.text") and b"template" not in mimetype:
        return ODT
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet") and b"template" not in mimetype:
        return ODS
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        kind = mimetype.decode("ascii", "replace").rsplit(".", 1)[-1]
        raise UnsupportedFileType(f"unsupported file type: OpenDocument {kind} (only text and spreadsheet)")
    if "ppt/presentation.xml" in names:
        return PPTX
    if "xl/workbook.xml" in names:
        return XLSM if b"macroenabled" in content_types.lower() else XLSX
    if "xl/workbook.bin" in names:
        raise UnsupportedFileType("unsupported file type: binary Excel workbook (.xlsb); save it as .xlsx")
    return None


def ole_kind(data: bytes) -> str:
    """An OLE2 compound file: an Outlook message is :data:`MSG`; the rest are refused, typed."""
    if not data.startswith(_OLE):
        raise ValueError("not an OLE file")
    if "__properties_version1.0".encode("utf-16-le") in data:
        return MSG
    if "EncryptedPackage".encode("utf-16-le") in data:
        raise EncryptedFile("the Office file is password-protected (encrypted)")
    legacy = (
        ("WordDocument", "legacy Word document (.doc); save it as .docx"),
        ("PowerPoint Document", "legacy PowerPoint file (.ppt); save it as .pptx"),
        ("Workbook", "legacy Excel workbook (.xls); save it as .xlsx"),
        ("Book", "legacy Excel workbook (.xls); save it as .xlsx"),
    )
    for name, what in legacy:
        if name.encode("utf-16-le") in data:
            raise UnsupportedFileType(f"unsupported file type: {what}")
    raise UnsupportedFileType("unsupported file type: OLE compound file (legacy Office or other)")


def bytes_format(data: bytes, filename: str | None) -> str | None:
    """Formats told from the raw bytes before they are decoded as text (their encoding may not
    be UTF-8): RTF, e-mail, and CSV/TSV by their file name."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"{\\rtf":
        return RTF
    name = (filename or "").lower()
    if name.endswith((".csv", ".tsv", ".tab")):
        return TSV if name.endswith((".tsv", ".tab")) else CSV
    if name.endswith(".eml") or _looks_like_mail(data):
        return EML
    return None


def _looks_like_mail(data: bytes) -> bool:
    """An RFC 5322 header block: header lines up to a blank line, naming at least three of
    the usual mail headers (From, Subject, Date, Received...)."""
    seen: set[bytes] = set()
    for line in data[:16384].split(b"\n")[:200]:
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the previous header
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        seen.add(match.group(1).lower())
    return len(seen & _MAIL_HEADERS) >= 3 and (b"from" in seen or b"received" in seen)


def text_format(text: str, filename: str | None) -> str | None:
    """JSON and NDJSON, by name or by content (a whole JSON value; lines that are each one)."""
    name = (filename or "").lower()
    stripped = text.lstrip("\ufeff \t\r\n")
    if name.endswith((".ndjson", ".jsonl")):
        return NDJSON
    if name.endswith(".json"):
        return JSON if _is_json(stripped) or not _is_ndjson(stripped) else NDJSON
    if stripped[:1] not in ("{", "["):
        return None
    if _is_json(stripped):
        return JSON
    return NDJSON if _is_ndjson(stripped) else None


def _is_json(text: str) -> bool:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, (dict, list))


def _is_ndjson(text: str) -> bool:
    lines = [line for line in text.splitlines()[:100] if line.strip()]
    if len(lines) < 2:
        return False
    return all(_is_json(line) for line in lines)
