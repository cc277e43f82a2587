from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from fastapi import APIRouter

from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.schemas import AskIn, AskOut, HitOut, SearchIn, SearchOut
from docrag.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["query"])


def _collection_ids(runtime: Runtime, tenant_id: UUID, names: Sequence[str]) -> list[UUID]:
    return [runtime.store.collection_by_name(tenant_id, name).id for name in dict.fromkeys(names)]


@router.post("/search")
def search(body: SearchIn, runtime: RuntimeDep, caller: PrincipalDep) -> SearchOut:
    """Hybrid (dense + BM25) search over the caller's collections."""
    ids = _collection_ids(runtime, caller.tenant_id, body.collections)
    hits = runtime.retriever.search(caller.tenant_id, ids, body.query, limit=body.limit)
    return SearchOut(query=body.query, hits=[HitOut.of(h) for h in hits])


@router.post("/ask")
def ask(body: AskIn, runtime: RuntimeDep, caller: PrincipalDep) -> AskOut:
    """An answer whose every sentence cites a stored passage, or 'I don't know'."""
    ids = _collection_ids(runtime, caller.tenant_id, body.collections)
    return AskOut.of(runtime.answerer.ask(caller.tenant_id, ids, body.question))
