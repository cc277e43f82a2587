"""Outlook .msg parsing with olefile (the OLE2 container; MS-OXMSG property streams), into the
same document as an e-mail (:mod:`docrag.ingest.parsers.mail`)."""

from __future__ import annotations

import datetime as dt
import io
import struct
from typing import Any

from docrag.domain import ParsedDocument
from docrag.errors import DocRAGError, EncryptedFile, UnreadableFile
from docrag.ingest.formats import MSG
from docrag.ingest.parsers.mail import MAX_ATTACHMENTS, Message, build

_SUBJECT, _CLASS, _SENDER_NAME, _SENDER_EMAIL = "0037", "001A", "0C1A", "0C1F"
_TO, _CC, _BODY, _HTML = "0E04", "0E03", "1000", "1013"
_ATTACH_LONG, _ATTACH_SHORT, _ATTACH_DATA = "3707", "3704", "3701"
_SUBMIT_TIME = 0x0039


def parse_msg(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:
        raise UnreadableFile(f"the .msg file is corrupt: {type(exc).__name__}: {exc}") from exc
    try:
        message = _message(ole, max_decompressed)
    except (DocRAGError, MemoryError):
        raise
    except Exception as exc:  # olefile on damaged sectors or streams
        raise UnreadableFile(f"the .msg file could not be read: {type(exc).__name__}: {exc}") from exc
    finally:
        ole.close()
    return build(message, MSG)


def _message(ole: Any, max_size: int) -> Message:
    kind = _string(ole, "", _CLASS) or ""
    if kind.upper().startswith("IPM.NOTE.SMIME") and "MULTIPARTSIGNED" not in kind.upper():
        raise EncryptedFile("the message is S/MIME-encrypted; it can't be read here")
    sender = _string(ole, "", _SENDER_NAME) or ""
    address = _string(ole, "", _SENDER_EMAIL) or ""
    if address and address not in sender:
        sender = f"{sender} <{address}>".strip()
    headers = [
        ("From", sender),
        ("To", _string(ole, "", _TO) or ""),
        ("Cc", _string(ole, "", _CC) or ""),
        ("Date", _submit_time(ole)),
    ]
    html = _binary(ole, "", _HTML, max_size)
    message = Message(
        _string(ole, "", _SUBJECT) or "",
        headers,
        _string(ole, "", _BODY),
        html.decode("utf-8", "replace") if html else None,
    )
    storages = sorted({entry[0] for entry in ole.listdir(streams=True) if entry[0].startswith("__attach_")})
    for storage in storages[: MAX_ATTACHMENTS + 1]:
        prefix = storage + "/"
        name = _string(ole, prefix, _ATTACH_LONG) or _string(ole, prefix, _ATTACH_SHORT) or storage
        payload = _binary(ole, prefix, _ATTACH_DATA, max_size) or b""
        message.attachments.append((name, payload))
    return message


def _string(ole: Any, prefix: str, prop: str) -> str | None:
    for suffix, encoding in (("001F", "utf-16-le"), ("001E", "cp1252")):
        path = f"{prefix}__substg1.0_{prop}{suffix}"
        if ole.exists(path):
            raw: bytes = ole.openstream(path).read()
            return raw.decode(encoding, "replace").rstrip("\x00")
    return None


def _binary(ole: Any, prefix: str, prop: str, max_size: int) -> bytes | None:
    path = f"{prefix}__substg1.0_{prop}0102"
    if not ole.exists(path):
        return None
    if ole.get_size(path) > max_size:
        raise UnreadableFile(f"a .msg stream is larger than the limit of {max_size} bytes")
    data: bytes = ole.openstream(path).read()
    return data


def _submit_time(ole: Any) -> str:
    """PidTagClientSubmitTime from the fixed-size property stream (32-byte header, 16-byte rows)."""
    if not ole.exists("__properties_version1.0"):
        return ""
    raw: bytes = ole.openstream("__properties_version1.0").read()
    for offset in range(32, len(raw) - 15, 16):
        tag, _flags, value = struct.unpack_from("<IIQ", raw, offset)
        if tag >> 16 == _SUBMIT_TIME and tag & 0xFFFF == 0x0040 and value:
            moment = dt.datetime(1601, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=value // 10)
            return moment.isoformat(sep=" ", timespec="seconds")
    return ""
