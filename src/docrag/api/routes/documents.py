from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile, status
from starlette.concurrency import run_in_threadpool

from docrag.api.audit import AuditDep
from docrag.api.deps import PrincipalDep, RuntimeDep, WriterDep
from docrag.api.documented import WITH_BODY, errors
from docrag.api.inputs import MAX_OFFSET, Text, single_form_fields
from docrag.api.schemas import NAME_PATTERN, DocumentForm, DocumentOut
from docrag.domain import DocumentInfo
from docrag.errors import FileTooLarge, InvalidRequest, error_for
from docrag.ingest.pipeline import Upload
from docrag.jobs.submit import submit, submit_version, wait_final_async
from docrag.services import Runtime
from docrag.store.audit import DOCUMENT_DELETED, DOCUMENT_REPLACED, DOCUMENT_UPLOADED
from docrag.store.jobs import Enqueued, EnqueueOutcome

router = APIRouter(tags=["documents"])

#: What an upload and a new version may answer besides the common errors.
_UPLOAD_ERRORS = {**WITH_BODY, **errors(409, 415)}


@router.post(
    "/v1/collections/{name}/documents",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "The same bytes are already stored in this collection: that document"},
        201: {"description": "With wait=true: the document is indexed and searchable"},
        **_UPLOAD_ERRORS,
    },
    dependencies=[Depends(single_form_fields)],
)
async def upload_document(
    name: Text,
    runtime: RuntimeDep,
    caller: WriterDep,
    response: Response,
    form: Annotated[DocumentForm, File()],
    audit: AuditDep,
    wait: Annotated[
        bool, Query(description="Answer only once the document is indexed (201) or failed (its error)")
    ] = False,
) -> DocumentOut:
    """Queue a document for ingestion; poll ``GET /v1/documents/{id}`` until it is ``indexed``.

    Bytes that can't be a document (too large, empty, unsupported or unreadable type) are
    refused at once and store nothing. A re-upload of a failed document queues it again.
    """
    if not _valid_name(name):
        raise InvalidRequest(f"invalid collection name {name!r}")
    data = await _read(runtime, form.file)
    collection = await run_in_threadpool(runtime.collection, caller.tenant_id, name, create=True)
    upload = Upload(data, form.file.filename, form.title)
    queued = await run_in_threadpool(submit, runtime.jobs, runtime.ingestor, collection, upload)
    if queued.outcome != "existing":
        await run_in_threadpool(
            audit.record, DOCUMENT_UPLOADED, queued.document.id, _detail(queued, collection.name)
        )
    return await _answer(runtime, queued, response, wait=wait)


@router.put(
    "/v1/documents/{document_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "The bytes are the served version's: nothing changes"},
        201: {"description": "With wait=true: the new version is indexed and served"},
        **_UPLOAD_ERRORS,
        **errors(404),
    },
    dependencies=[Depends(single_form_fields)],
)
async def replace_document(
    document_id: UUID,
    runtime: RuntimeDep,
    caller: WriterDep,
    response: Response,
    form: Annotated[DocumentForm, File()],
    audit: AuditDep,
    wait: Annotated[
        bool, Query(description="Answer only once the new version is served (201) or failed (its error)")
    ] = False,
) -> DocumentOut:
    """Upload a new version. The served version stays searchable until the new one is fully
    indexed, then one transaction switches them; chunks whose text did not change keep their
    vectors instead of being embedded again. A failed version leaves the served one in place."""
    data = await _read(runtime, form.file)
    current = await run_in_threadpool(runtime.store.get_document, caller.tenant_id, document_id)
    collection = await run_in_threadpool(
        runtime.store.collection_by_id, caller.tenant_id, current.collection_id
    )
    queued = await run_in_threadpool(
        submit_version,
        runtime.jobs,
        runtime.ingestor,
        collection,
        document_id,
        Upload(data, form.file.filename, form.title),
    )
    if queued.outcome != "existing":
        await run_in_threadpool(
            audit.record, DOCUMENT_REPLACED, document_id, _detail(queued, collection.name)
        )
    return await _answer(runtime, queued, response, wait=wait)


async def _read(runtime: Runtime, file: UploadFile) -> bytes:
    """The upload's bytes; refuses oversized or unreadable ones before anything is stored."""
    limit = runtime.settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"the upload exceeds the limit of {limit} bytes")
    return data


async def _answer(runtime: Runtime, queued: Enqueued, response: Response, *, wait: bool) -> DocumentOut:
    document = queued.document
    if wait and not document.final:
        document = await _wait(runtime, document, runtime.settings.upload_wait_seconds)
    if wait and document.status == "failed":
        raise error_for(document.error_code or "internal_error", document.error_message or "ingestion failed")
    response.status_code = _status_code(queued.outcome, document)
    duplicate = queued.outcome not in ("queued", "replacing")
    return DocumentOut.model_validate(document).model_copy(update={"duplicate": duplicate})


def _status_code(outcome: EnqueueOutcome, document: DocumentInfo) -> int:
    if outcome == "existing":
        return status.HTTP_200_OK
    if not document.final:
        return status.HTTP_202_ACCEPTED  # queued (again): poll GET /v1/documents/{id}
    return status.HTTP_201_CREATED if outcome in ("queued", "replacing") else status.HTTP_200_OK


async def _wait(runtime: Runtime, document: DocumentInfo, timeout: float) -> DocumentInfo:
    """The document once it is final, or as it is when ``timeout`` runs out (jobs/submit.py)."""
    waited = await wait_final_async(runtime.jobs, document.tenant_id, [document.id], timeout=timeout)
    if not waited:  # deleted meanwhile: the store's own not-found
        return await run_in_threadpool(runtime.store.get_document, document.tenant_id, document.id)
    return waited[0]


@router.get("/v1/collections/{name}/documents", responses=errors(404))
def list_documents(
    name: Text,
    runtime: RuntimeDep,
    caller: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[DocumentOut]:
    collection = runtime.store.collection_by_name(caller.tenant_id, name)
    docs = runtime.store.list_documents(caller.tenant_id, collection.id, limit=limit, offset=offset)
    return [DocumentOut.model_validate(d) for d in docs]


@router.get("/v1/documents/{document_id}", responses=errors(404))
def get_document(document_id: UUID, runtime: RuntimeDep, caller: PrincipalDep) -> DocumentOut:
    return DocumentOut.model_validate(runtime.store.get_document(caller.tenant_id, document_id))


@router.delete("/v1/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_document(document_id: UUID, runtime: RuntimeDep, caller: WriterDep, audit: AuditDep) -> None:
    """Remove the document with every chunk and vector (one transaction), and the cached
    answers of its collection. Searches and answers started before the delete drop its chunks
    when they check their hits against the database."""
    runtime.delete_document(caller.tenant_id, document_id)
    audit.record(DOCUMENT_DELETED, document_id)


def _detail(queued: Enqueued, collection: str) -> dict[str, object]:
    """The audit detail of an upload: where it went and how big it is, never its text or title."""
    return {"collection": collection, "outcome": queued.outcome, "size_bytes": queued.document.size_bytes}


def _valid_name(name: str) -> bool:
    return re.fullmatch(NAME_PATTERN, name) is not None
