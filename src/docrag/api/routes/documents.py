from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from starlette.concurrency import run_in_threadpool

from docrag.api.deps import PrincipalDep, RuntimeDep, WriterDep
from docrag.api.schemas import NAME_PATTERN, DocumentOut
from docrag.errors import FileTooLarge, InvalidRequest
from docrag.ingest.detect import detect_type
from docrag.ingest.pipeline import Upload

router = APIRouter(tags=["documents"])


@router.post(
    "/v1/collections/{name}/documents",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The same bytes were already stored in this collection"}},
)
async def upload_document(
    name: str,
    runtime: RuntimeDep,
    caller: WriterDep,
    response: Response,
    file: Annotated[UploadFile, File(description="The document (PDF, DOCX, HTML, Markdown or text)")],
    title: Annotated[str | None, Form(max_length=500)] = None,
) -> DocumentOut:
    """Parse, chunk, embed and store a document; it is searchable when this returns."""
    if not _valid_name(name):
        raise InvalidRequest(f"invalid collection name {name!r}")
    limit = runtime.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"the upload exceeds the limit of {limit} bytes")
    detect_type(data, file.filename)  # reject unreadable bytes before creating the collection
    collection = await run_in_threadpool(runtime.collection, caller.tenant_id, name, create=True)
    document, created = await run_in_threadpool(
        runtime.ingestor.ingest, collection, Upload(data, file.filename, title)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return DocumentOut.of(document, duplicate=not created)


@router.get("/v1/collections/{name}/documents")
def list_documents(
    name: str,
    runtime: RuntimeDep,
    caller: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DocumentOut]:
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    docs = runtime.store.list_documents(caller.tenant_id, collection.id, limit=limit, offset=offset)
    return [DocumentOut.of(d) for d in docs]


@router.get("/v1/documents/{document_id}")
def get_document(document_id: UUID, runtime: RuntimeDep, caller: PrincipalDep) -> DocumentOut:
    return DocumentOut.of(runtime.store.get_document(caller.tenant_id, document_id))


@router.delete("/v1/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_document(document_id: UUID, runtime: RuntimeDep, caller: WriterDep) -> None:
    """Remove the document with every chunk and vector, in one transaction."""
    runtime.store.delete_document(caller.tenant_id, document_id)


def _valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None
