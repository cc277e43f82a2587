"""Process logging: JSON lines (DOCRAG_LOG_FORMAT=json) or text, each record with its request id.

One access line per request comes from the observability middleware (logger ``docrag.access``):
time, level, request_id, tenant (its id), route (the template, never the raw path or query),
method, status, duration_ms. With tracing on (DOCRAG_OTLP_ENDPOINT), every record made inside a
span also carries its trace_id and span_id, to find the request's trace from its log lines.
Nothing else about a request is logged: no headers, bodies, questions or document text. A
redaction filter also masks anything shaped like an API key or a bearer token that would reach a
record through an exception message, and any PII (text/pii.py: e-mails, phone numbers, card
numbers, IBANs, national ids) as its typed placeholder, in messages and tracebacks alike.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from docrag import tracing
from docrag.observability.request_id import current_request_id
from docrag.text.pii import redact

ACCESS_LOGGER = "docrag.access"
_SECRET = re.compile(r"drg_[A-Za-z0-9_\-]+|(?i:bearer)\s+\S+|(?i:password)=\S+")
_PLAIN = logging.Formatter()
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestContext(logging.Filter):
    """Adds ``request_id`` (empty outside a request), the span's ids while tracing, and masks
    secrets in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id.get()
        ids = tracing.current_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        message = record.getMessage()
        masked = redact(_SECRET.sub("[redacted]", message))
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            # A traceback's messages may quote what failed: formatted here, masked, then kept as text.
            record.exc_text = redact(_SECRET.sub("[redacted]", _PLAIN.formatException(record.exc_info)))
            record.exc_info = None
        return True


def formatter(log_format: Literal["json", "text"]) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    return logging.Formatter(_TEXT)


def configure_logging(log_format: Literal["json", "text"], level: int = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Our access line replaces uvicorn's, which would log raw paths and query strings.
    logging.getLogger("uvicorn.access").disabled = True
