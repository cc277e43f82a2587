"""Every error a DocRAG client can receive, in one place.

Each error has a stable machine-readable ``code`` and the HTTP status the API answers
with. The API turns any :class:`DocRAGError` into ``{"error": {"code", "message"}}``.

    DocRAGError
    ├── BadInput (4xx: the caller can fix it; itself 400 invalid_request: a body that can't be
    │   │                           parsed at all, not UTF-8 or a broken multipart form)
    │   ├── InvalidRequest          422 invalid_request (also: an unknown or repeated field, text
    │   │                           with NUL or a lone surrogate, an integer out of range)
    │   │   └── InvalidRating       422 invalid_rating (feedback rating other than up or down)
    │   ├── EmptyFile               422 empty_file
    │   ├── UnsupportedFileType     415 unsupported_file_type
    │   │   └── OcrDisabled         415 ocr_disabled (an image, while DOCRAG_OCR is off)
    │   ├── UnreadableFile          422 unreadable_file
    │   ├── EncryptedFile           422 encrypted_file
    │   ├── NoTextFound             422 no_text_found
    │   │   └── NoTextLayer         422 no_text_layer (a scanned PDF, while DOCRAG_OCR is off)
    │   ├── OcrFailed               422 ocr_failed (Tesseract missing, failing or past
    │   │                               DOCRAG_OCR_PAGE_SECONDS on a page)
    │   ├── FileTooLarge            413 file_too_large (also: an upload's body past the upload cap)
    │   │   └── ImageTooLarge       413 image_too_large (more pixels than DOCRAG_OCR_MAX_PIXELS)
    │   ├── BodyTooLarge            413 body_too_large (a non-upload body past DOCRAG_MAX_JSON_BYTES)
    │   ├── BodyTimeout             408 body_timeout (the body stalled, or came slower than
    │   │                               DOCRAG_BODY_TIMEOUT_SECONDS allows)
    │   │   └── DecompressionBomb   413 decompression_bomb (a DOCX part or PDF stream expands
    │   │                               past DOCRAG_MAX_DECOMPRESSED_BYTES)
    │   ├── TooManyPages            422 too_many_pages (more than DOCRAG_MAX_PAGES)
    │   ├── ParseTimeout            422 parse_timeout (parsing ran past DOCRAG_PARSE_TIMEOUT_SECONDS)
    │   ├── ParseMemoryExceeded     422 parse_memory_exceeded (parsing needed more than
    │   │                               DOCRAG_WORKER_MEMORY_MB)
    │   ├── DocumentOverBudget      422 document_over_budget (the parsed text is longer than
    │   │                               DOCRAG_MAX_DOCUMENT_CHARS or makes more chunks than
    │   │                               DOCRAG_MAX_DOCUMENT_CHUNKS)
    │   └── DuplicateDocument       409 duplicate_document (a new version's bytes are another
    │                                   document's of the same collection)
    ├── AuthError
    │   ├── Unauthenticated         401 unauthenticated (no credential, or an unknown, revoked or
    │   │   │                           invalid one: a bad JWT, a revoked session, a disabled user)
    │   │   ├── InvalidCredentials  401 invalid_credentials (login: wrong email, password or tenant,
    │   │   │                           or a disabled user; never says which)
    │   │   ├── MfaRequired         401 mfa_required (login: the user has MFA; send `totp`)
    │   │   ├── InvalidMfaCode      401 invalid_mfa_code (login: a wrong, used or replayed code)
    │   │   ├── TokenExpired        401 token_expired (an access token past its `exp`: refresh it)
    │   │   └── RefreshTokenReused  401 refresh_token_reused (a spent refresh token came back: its
    │   │                               whole session is revoked)
    │   └── Forbidden               403 forbidden (also: an admin-only route for a non-admin key, a
    │       │                           tenant-wide route for a key scoped to collections)
    │       └── MfaEnrollmentRequired 403 mfa_enrollment_required (an admin of a tenant that
    │                                   requires MFA has none yet: enroll first, docs/auth.md)
    ├── NotFound                    404 collection_not_found | document_not_found | conversation_not_found
    │                                   | answer_not_found | tenant_not_found | key_not_found
    │                                   | page_not_found (past a PDF's last page) | not_found
    │                                   (also: what a key scoped to other collections may not see)
    ├── Conflict                    409 collection_exists | embedding_model_mismatch |
    │                                   reindex_in_progress | own_key (a key revoking itself) |
    │                                   email_taken | mfa_already_enabled | own_account |
    │                                   page_unavailable (no kept PDF original to show, docs/web.md)
    ├── RateLimited                 429 rate_limited (too many requests: wait Retry-After seconds)
    │   └── AccountLocked           429 account_locked (too many failed logins for this account:
    │                                   wait Retry-After seconds; unknown emails alike)
    ├── GeneratorFailed             502 generator_failed (the LLM server refused the request or
    │                                   answered in an unknown format: retrying can't help)
    └── Unavailable                 503 unavailable (database or model not ready)
        ├── Overloaded              503 overloaded (the process runs as many search, ask and upload
        │                               requests as it may and its short queue is full: wait
        │                               Retry-After seconds; api/admission.py)
        ├── GeneratorUnavailable    503 generator_unavailable (the LLM server timed out, could not be
        │                               reached, or kept answering 429/5xx through every retry)
        ├── MissingDependency       503 missing_dependency (an optional extra, e.g. docrag[llm], is
        │                               not installed)
        ├── KeyUnavailable          503 key_unavailable (an encrypted original's data key or master
        │   │                           key is missing: retired or not configured, or the key store
        │   │                           is not mounted; or its ciphertext is not its row's:
        │   │                           docs/encryption.md)
        │   └── KeyDestroyed        410 key_destroyed (the data key was crypto-shredded: its tenant
        │                               was erased or its version retired; what it encrypted,
        │                               a restored backup's copy included, can't be read again)
        └── ServerUnreachable       server_unreachable (docrag.client only: no HTTP answer at all,
                                        the server is down or the address is wrong)

During a streamed ask (``text/event-stream``) an error after the first event arrives as an
``error`` event carrying the same ``{"code", "message"}``.

The Python client (:mod:`docrag.client`) raises these same classes, chosen by the answer's
``code`` (an unknown code: :class:`DocRAGError` with that code), with the HTTP ``status`` and
``retry_after`` (seconds, from ``Retry-After``) of the answer.

A document whose background ingestion failed shows the same codes in its ``error_code``
(``internal_error`` when a worker hit an unexpected error or died on it too often).
"""

from __future__ import annotations

import math


class DocRAGError(Exception):
    code = "internal_error"
    status = 500

    #: Seconds the server asked to wait (its Retry-After), as the client received it.
    retry_after: float | None = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def response_headers(self) -> dict[str, str]:
        """HTTP headers the API sends with this error's answer."""
        return {}


class BadInput(DocRAGError):
    code = "invalid_request"
    status = 400


class InvalidRequest(BadInput):
    code = "invalid_request"
    status = 422


class InvalidRating(InvalidRequest):
    code = "invalid_rating"
    status = 422


class EmptyFile(BadInput):
    code = "empty_file"
    status = 422


class UnsupportedFileType(BadInput):
    code = "unsupported_file_type"
    status = 415


class UnreadableFile(BadInput):
    code = "unreadable_file"
    status = 422


class EncryptedFile(UnreadableFile):
    code = "encrypted_file"
    status = 422


class NoTextFound(UnreadableFile):
    code = "no_text_found"
    status = 422


class DocumentOverBudget(BadInput):
    code = "document_over_budget"
    status = 422


class NoTextLayer(NoTextFound):
    code = "no_text_layer"
    status = 422


class OcrDisabled(UnsupportedFileType):
    code = "ocr_disabled"
    status = 415


class OcrFailed(UnreadableFile):
    code = "ocr_failed"
    status = 422


class FileTooLarge(BadInput):
    code = "file_too_large"
    status = 413


class DecompressionBomb(FileTooLarge):
    code = "decompression_bomb"
    status = 413


class ImageTooLarge(FileTooLarge):
    code = "image_too_large"
    status = 413


class BodyTooLarge(BadInput):
    code = "body_too_large"
    status = 413


class BodyTimeout(BadInput):
    code = "body_timeout"
    status = 408


class TooManyPages(BadInput):
    code = "too_many_pages"
    status = 422


class ParseTimeout(BadInput):
    code = "parse_timeout"
    status = 422


class ParseMemoryExceeded(BadInput):
    code = "parse_memory_exceeded"
    status = 422


class AuthError(DocRAGError):
    code = "unauthenticated"
    status = 401


class Unauthenticated(AuthError):
    code = "unauthenticated"
    status = 401


class Forbidden(AuthError):
    code = "forbidden"
    status = 403


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    status = 401


class MfaRequired(Unauthenticated):
    code = "mfa_required"
    status = 401


class InvalidMfaCode(Unauthenticated):
    code = "invalid_mfa_code"
    status = 401


class TokenExpired(Unauthenticated):
    code = "token_expired"
    status = 401


class RefreshTokenReused(Unauthenticated):
    code = "refresh_token_reused"
    status = 401


class MfaEnrollmentRequired(Forbidden):
    code = "mfa_enrollment_required"
    status = 403


class DuplicateDocument(BadInput):
    code = "duplicate_document"
    status = 409


class NotFound(DocRAGError):
    code = "not_found"
    status = 404


class Conflict(DocRAGError):
    code = "conflict"
    status = 409


class Unavailable(DocRAGError):
    code = "unavailable"
    status = 503


class RateLimited(DocRAGError):
    code = "rate_limited"
    status = 429

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        #: The answer's RateLimit-* headers (the API adds Retry-After from ``retry_after``).
        self.headers = dict(headers or {})

    def response_headers(self) -> dict[str, str]:
        found = dict(self.headers)
        if self.retry_after is not None:
            found["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return found


class AccountLocked(RateLimited):
    code = "account_locked"
    status = 429


class GeneratorFailed(DocRAGError):
    code = "generator_failed"
    status = 502


class Overloaded(Unavailable):
    code = "overloaded"
    status = 503

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, math.ceil(self.retry_after or 1)))}


class GeneratorUnavailable(Unavailable):
    code = "generator_unavailable"
    status = 503


class MissingDependency(Unavailable):
    code = "missing_dependency"
    status = 503


class KeyUnavailable(Unavailable):
    code = "key_unavailable"
    status = 503


class KeyDestroyed(KeyUnavailable):
    code = "key_destroyed"
    status = 410


class ServerUnreachable(Unavailable):
    code = "server_unreachable"
    status = 503


def error_for(code: str, message: str) -> DocRAGError:
    """The typed error for a stored code (a failed document's), with its HTTP status."""
    found: type[DocRAGError] | None = None
    pending: list[type[DocRAGError]] = [DocRAGError]
    while pending:
        cls = pending.pop()
        # The most derived class with the code: InvalidRequest (422) rather than BadInput (400).
        if cls.code == code and (found is None or issubclass(cls, found)):
            found = cls
        pending.extend(cls.__subclasses__())
    return found(message) if found is not None else DocRAGError(message, code=code)
