"""E-mail parsing: EML (RFC 5322, with the standard library's ``email``) and, through
:mod:`docrag.ingest.parsers.msg`, Outlook .msg files, into one document per message.

The document holds the subject as its heading, the From/To/Cc/Date headers, the body (plain text
preferred, else the HTML body through the HTML parser) and the list of attachment names. The
attachments themselves (at most :data:`MAX_ATTACHMENTS`, an attached message as an .eml) ride
along in :attr:`ParsedDocument.attachments`: the worker submits each as a document of its own in
the same collection, through the upload path (so each gets its own parser, limits and outcome).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docrag.domain import Attachment, BlockKind, DocumentBuilder, ParsedDocument
from docrag.errors import DocRAGError, EncryptedFile, UnreadableFile
from docrag.ingest.detect import decode_text
from docrag.ingest.formats import EML

MAX_ATTACHMENTS = 50
_HEADERS = ("From", "To", "Cc", "Date")


@dataclass(slots=True)
class Message:
    """What a parsed message holds, whichever container it came in."""

    subject: str
    headers: list[tuple[str, str]]
    plain: str | None
    html: str | None
    attachments: list[tuple[str, bytes]] = field(default_factory=list)


def parse_eml(data: bytes, max_pages: int, max_decompressed: int) -> ParsedDocument:
    """The limits are the registry's (an e-mail is bounded by the upload's size)."""
    import email
    from email import policy

    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:1024]:
        data = decode_text(data).encode("utf-8")  # a message saved as UTF-16
    try:
        message = email.message_from_bytes(data, policy=policy.default)
        content = _eml_message(message)
    except DocRAGError:
        raise
    except Exception as exc:  # the email package on broken MIME structure or encodings
        raise UnreadableFile(f"the e-mail could not be read: {type(exc).__name__}: {exc}") from exc
    return build(content, EML)


def _eml_message(message: object) -> Message:
    from email.message import EmailMessage

    assert isinstance(message, EmailMessage)
    content_type = message.get_content_type()
    if content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime", "multipart/encrypted"):
        raise EncryptedFile("the e-mail is encrypted (S/MIME or PGP); it can't be read here")
    headers = [(name, " ".join(str(message.get(name, "")).split())) for name in _HEADERS]
    result = Message(str(message.get("Subject", "") or ""), headers, None, None)
    for kind in ("plain", "html"):
        body = message.get_body(preferencelist=(kind,))
        if body is not None:
            text = body.get_content()
            if kind == "plain":
                result.plain = text
            else:
                result.html = text
    for part in message.iter_attachments():
        name = part.get_filename() or part.get_content_type()
        if part.get_content_type() == "message/rfc822":
            name = part.get_filename() or "attached-message.eml"
            inner: Any = part.get_payload(0) if part.is_multipart() else None
            payload = inner.as_bytes() if inner is not None else b""
        else:
            payload = part.get_payload(decode=True) or b""
        result.attachments.append((name, payload if isinstance(payload, bytes) else b""))
    return result


def build(content: Message, mime: str) -> ParsedDocument:
    from docrag.ingest.parsers.html import parse_html

    if _is_encrypted(content):
        raise EncryptedFile("the message is encrypted (PGP or S/MIME); it can't be read here")
    builder = DocumentBuilder(mime)
    subject = " ".join(content.subject.split())
    builder.add(BlockKind.HEADING, subject or "(no subject)", level=1)
    lines = [f"{name}: {value}" for name, value in content.headers if value]
    if subject:
        lines.append(f"Subject: {subject}")
    builder.add(BlockKind.PARAGRAPH, "\n".join(lines))
    if content.plain and content.plain.strip():
        for paragraph in content.plain.replace("\r\n", "\n").split("\n\n"):
            builder.add(BlockKind.PARAGRAPH, paragraph)
    elif content.html:
        copy_blocks(builder, parse_html(content.html.encode("utf-8")), 1)
    names = [name for name, _ in content.attachments]
    if names:
        builder.add(BlockKind.PARAGRAPH, "Attachments: " + ", ".join(names))
    builder.attachments = [
        Attachment(name, payload)
        for name, payload in content.attachments[:MAX_ATTACHMENTS]
        if payload.strip()
    ]
    builder.title = subject or None
    return builder.build()


def _is_encrypted(content: Message) -> bool:
    """A message whose only content is an encrypted payload (PGP/MIME or S/MIME)."""
    if (content.plain or "").strip() or (content.html or "").strip():
        return False
    for name, payload in content.attachments:
        lowered = name.lower()
        if (
            lowered.endswith(("pgp-encrypted", "smime.p7m"))
            or payload.lstrip()[:27] == b"-----BEGIN PGP MESSAGE-----"
        ):
            return True
    return False


def copy_blocks(builder: DocumentBuilder, document: ParsedDocument, under: int) -> None:
    """``document``'s blocks appended to ``builder``, its headings ``under`` levels deeper."""
    for block in document.blocks:
        text = document.text[block.start : block.end]
        level = block.level + under if block.kind is BlockKind.HEADING else 0
        builder.add(block.kind, text, level=level)
