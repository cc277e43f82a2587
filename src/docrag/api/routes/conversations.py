from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.schemas import ConversationIn, ConversationOut

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


@router.get("/{conversation_id}", responses=errors(404))
def get_conversation(conversation_id: UUID, runtime: RuntimeDep, caller: PrincipalDep) -> ConversationOut:
    """The conversation with every turn: question, resolved question, answer, citations, verdicts."""
    return ConversationOut.model_validate(runtime.answers.conversation(caller.tenant_id, conversation_id))
