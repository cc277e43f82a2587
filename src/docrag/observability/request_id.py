"""Request ids: the client's X-Request-ID when it is safe to echo and log, else a fresh one."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "x-request-id"
MAX_LENGTH = 128
# Letters, digits and a few separators: safe in a header, a log line and a shell.
_SAFE = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_LENGTH}}}")

#: The id of the request being served, for log records (empty outside a request).
current_request_id: ContextVar[str] = ContextVar("docrag_request_id", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: bytes | None) -> str:
    """``raw`` when it is a bounded run of safe characters, otherwise a newly generated id."""
    if raw is not None and len(raw) <= MAX_LENGTH:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return new_request_id()
        if _SAFE.fullmatch(text):
            return text
    return new_request_id()
