from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.inputs import MAX_OFFSET
from docrag.api.schemas import ConversationIn, ConversationOut
from docrag.api.view_schemas import ConversationSummaryOut

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.post("", status_code=201, responses=WITH_BODY)
def create_conversation(
    runtime: RuntimeDep, caller: PrincipalDep, body: ConversationIn | None = None
) -> ConversationOut:
    """A new, empty conversation: ask with its id to add turns."""
    title = body.title if body is not None else None
    return ConversationOut.model_validate(
        runtime.answers.create_conversation(
            caller.tenant_id, title, created_by=caller.user_id or caller.key_id
        )
    )


@router.get("")
def list_conversations(
    runtime: RuntimeDep,
    caller: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[ConversationSummaryOut]:
    """The caller's own conversations (its key's, or its user's), the most recently continued first."""
    found = runtime.answers.conversations(
        caller.tenant_id, caller.user_id or caller.key_id, limit=limit, offset=offset
    )
    return [ConversationSummaryOut.of(c) for c in found]


@router.get("/{conversation_id}", responses=errors(404))
def get_conversation(conversation_id: UUID, runtime: RuntimeDep, caller: PrincipalDep) -> ConversationOut:
    """The conversation with every turn: question, resolved question, answer, citations, verdicts."""
    return ConversationOut.model_validate(runtime.answers.conversation(caller.tenant_id, conversation_id))
