"""A streamed answer's events, typed: ``Started``, ``TokenText``..., then ``Answered``.

The server's ``error`` event is raised as the typed error of its code; ``done`` ends the stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from uuid import UUID

from docrag.api.schemas import AskOut
from docrag.errors import DocRAGError, error_for


@dataclass(frozen=True)
class Started:
    question: str
    resolved_question: str
    conversation_id: UUID | None


@dataclass(frozen=True)
class TokenText:
    text: str


@dataclass(frozen=True)
class Answered:
    answer: AskOut


StreamEvent = Started | TokenText | Answered


class StreamBroken(DocRAGError):
    code = "stream_broken"
    status = 502


def parse_event(name: str, data: str) -> StreamEvent | None:
    """The typed event, None for ``done`` (and unknown events, for servers newer than this client)."""
    if name == "answer":
        return Answered(AskOut.model_validate_json(data))
    payload = json.loads(data) if data else {}
    if name == "token":
        return TokenText(str(payload["text"]))
    if name == "start":
        conversation = payload.get("conversation_id")
        return Started(
            question=str(payload["question"]),
            resolved_question=str(payload["resolved_question"]),
            conversation_id=UUID(conversation) if conversation else None,
        )
    if name == "error":
        raise error_for(str(payload.get("code", "internal_error")), str(payload.get("message", "")))
    return None
