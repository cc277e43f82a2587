"""Server-Sent Events for a streamed ask: ``start``, ``token``..., ``answer``, ``done``.

An error after the stream began can't change the HTTP status any more: it is an ``error``
event with the usual ``{"code", "message"}``, and the stream ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from docrag.answering.events import Started, Token
from docrag.answering.service import Asked, PreparedAsk
from docrag.api.schemas import AskOut
from docrag.errors import DocRAGError

_log = logging.getLogger(__name__)


def event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def ask_events(ask: PreparedAsk, events: Iterator[Started | Token | Asked]) -> Iterator[str]:
    yield event(
        "start",
        {
            "question": ask.question,
            "resolved_question": ask.resolved_question,
            "conversation_id": str(ask.conversation_id) if ask.conversation_id else None,
        },
    )
    try:
        for item in events:
            if isinstance(item, Token):
                yield event("token", {"text": item.text})
            elif isinstance(item, Asked):
                yield event("answer", AskOut.of(item).model_dump(mode="json"))
    except DocRAGError as exc:
        yield event("error", {"code": exc.code, "message": exc.message})
        return
    except Exception:
        _log.exception("unexpected error in a streamed answer")
        yield event("error", {"code": "internal_error", "message": "internal error; it has been logged"})
        return
    finally:
        close = getattr(events, "close", None)
        if callable(close):
            close()
    yield event("done", {})
