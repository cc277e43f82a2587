from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from docrag.answering.events import Started
from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.schemas import AskIn, AskOut, HitOut, SearchIn, SearchOut
from docrag.api.sse import ask_events

router = APIRouter(prefix="/v1", tags=["query"])


@router.post("/search", responses={**WITH_BODY, **errors(404, 409)})
def search(body: SearchIn, runtime: RuntimeDep, caller: PrincipalDep) -> SearchOut:
    """Hybrid (dense + BM25) search over the caller's collections."""
    ids = runtime.store.collection_ids(caller.tenant_id, body.collections)
    hits = runtime.searcher.search(caller.tenant_id, ids, body.query, limit=body.limit)
    return SearchOut(query=body.query, hits=[HitOut.model_validate(h) for h in hits])


@router.post(
    "/ask",
    response_model=AskOut,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or events when streamed"},
        **WITH_BODY,
        **errors(404, 409, 502),
    },
)
def ask(
    body: AskIn, request: Request, runtime: RuntimeDep, caller: PrincipalDep
) -> AskOut | StreamingResponse:
    """An answer whose every sentence cites a stored passage and carries a groundedness verdict,
    or 'I don't know'; streamed as Server-Sent Events on request."""
    prepared = runtime.asker.prepare(
        caller.tenant_id,
        body.collections,
        body.question,
        body.conversation_id,
        created_by=caller.user_id or caller.key_id,
    )
    if not (body.stream or "text/event-stream" in request.headers.get("accept", "")):
        return AskOut.of(runtime.asker.ask(prepared))
    events = runtime.asker.run(prepared, incremental=True)
    # Read up to Started here: retrieval and the model's acceptance can still fail as typed JSON.
    first = next(events)
    assert isinstance(first, Started)
    return StreamingResponse(
        ask_events(prepared, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
