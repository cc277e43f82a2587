"""The error statuses of the OpenAPI document, from one table.

Every error answer has the body :class:`~docrag.api.schemas.ErrorResponse` (``{"error": {"code",
"message"}}``; codes in ``errors.py``). :data:`EVERY_ROUTE` is documented on every operation (the
app passes it to FastAPI), :data:`GUARDED` on every route the role matrix guards (``api/roles.py``),
:data:`WITH_BODY` on the routes that read a body; a route adds its own (404, 409, 415, ...) with
:func:`errors`. tests/e2e/test_schema_fuzz.py checks with schemathesis that each route answers only
statuses listed here.
"""

from __future__ import annotations

from typing import Any

from docrag.api.schemas import ErrorResponse

ERRORS: dict[int, str] = {
    400: "The body can't be parsed: not UTF-8, or a broken multipart form (`invalid_request`)",
    401: "No credential, or an API key or access token that is unknown, revoked or expired"
    " (`unauthenticated`, `token_expired`)",
    403: "The caller's role is below the one this route needs, a key scoped to collections calls a"
    " tenant-wide route, or the route is a signed-in user's own and an API key called it (`forbidden`,"
    " `mfa_enrollment_required`)",
    404: "What the path or body names does not exist in this tenant (`*_not_found`)",
    408: "The body stalled or came slower than DOCRAG_BODY_TIMEOUT_SECONDS allows (`body_timeout`)",
    409: "Conflicts with what is stored (`collection_exists`, `duplicate_document`,"
    " `embedding_model_mismatch`, `reindex_in_progress`, `email_taken`, `mfa_already_enabled`,"
    " `own_account`, `own_key`: a key revoking itself)",
    413: "The body is past its cap (`body_too_large`; an upload: `file_too_large`)",
    415: "The upload is not a supported document type (`unsupported_file_type`; an image while"
    " DOCRAG_OCR is off: `ocr_disabled`)",
    422: "The request does not match the schema, or holds text PostgreSQL can't store (NUL, a lone"
    " surrogate) (`invalid_request`, and the upload codes of errors.py)",
    429: "Too many requests: wait Retry-After seconds (`rate_limited`)",
    502: "The LLM server refused the request or answered in an unknown format (`generator_failed`)",
    503: "The database, the model or the LLM server is not available (`unavailable`,"
    " `generator_unavailable`), or the process is at capacity (`overloaded`: wait Retry-After seconds)",
}


def errors(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these statuses, each with the error body and the table's description
    (or, for ``e404="..."``-style keywords, a description of the route's own)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorResponse, "description": ERRORS[status]}
    for key, description in described.items():
        out[int(key.removeprefix("e"))] = {"model": ErrorResponse, "description": description}
    return out


#: Any request: a Content-Length past the cap (413), one that is not a number or a parameter the
#: schema refuses (422), the database or model not ready (503).
EVERY_ROUTE = errors(413, 422, 503)
#: The role matrix's routes: checked before any body is read.
GUARDED = errors(401, 403, 429)
#: Routes that read a body: it may be unparseable (400) or too slow (408).
WITH_BODY = errors(400, 408)
