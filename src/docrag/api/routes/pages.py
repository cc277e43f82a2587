"""A cited PDF page as an image, and where the cited quote sits on it (docs/web.md).

Both read the document's kept original (``store/originals.py``: decrypted with its tenant's data
key) after the same tenant and scope check as ``GET /v1/documents/{id}``: another tenant's id is
404. A document without one (not a PDF, a PII-redacting collection, indexed before originals were
kept) is 409 ``page_unavailable``; a page past the last is 404 ``page_not_found``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from docrag.api.deps import PrincipalDep, RuntimeDep
from docrag.api.documented import errors
from docrag.api.inputs import Text
from docrag.api.view_schemas import PageBoxesOut
from docrag.ingest.pdf_pages import quote_boxes, render_png
from docrag.services import Runtime
from docrag.store.originals import page_source

router = APIRouter(prefix="/v1/documents", tags=["documents"])

PageNumber = Annotated[int, Path(ge=1, le=100_000, description="1-based page number")]


async def _pdf(runtime: Runtime, tenant: UUID, document_id: UUID) -> bytes:
    await run_in_threadpool(runtime.store.get_document, tenant, document_id)  # 404: not the caller's
    return await run_in_threadpool(page_source, runtime.store, runtime.jobs.sealer, tenant, document_id)


@router.get(
    "/{document_id}/pages/{page}",
    responses={200: {"content": {"image/png": {}}, "description": "The page as a PNG"}, **errors(404, 409)},
    response_class=Response,
)
async def page_image(
    document_id: UUID, page: PageNumber, runtime: RuntimeDep, caller: PrincipalDep
) -> Response:
    """The page of the document's served version, rendered as a PNG."""
    data = await _pdf(runtime, caller.tenant_id, document_id)
    png = await run_in_threadpool(runtime.ingestor.isolated, render_png, data, page)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.get("/{document_id}/pages/{page}/boxes", responses=errors(404, 409))
async def page_boxes(
    document_id: UUID,
    page: PageNumber,
    runtime: RuntimeDep,
    caller: PrincipalDep,
    quote: Annotated[Text | None, Query(max_length=4000, description="The cited text to find")] = None,
) -> PageBoxesOut:
    """Where ``quote`` sits on the page's image: one box per line, in the image's pixels (without
    a quote: none, only the image's size)."""
    data = await _pdf(runtime, caller.tenant_id, document_id)
    found = await run_in_threadpool(runtime.ingestor.isolated, quote_boxes, data, page, quote or "")
    return PageBoxesOut(
        document_id=document_id,
        page=found.page,
        page_count=found.page_count,
        width=found.width,
        height=found.height,
        boxes=found.boxes,
        matched=found.matched,
    )
