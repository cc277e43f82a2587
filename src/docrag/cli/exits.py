"""The ``docrag`` command's exit statuses, one per kind of failure, so scripts can tell them apart.

Errors arrive as the typed classes of :mod:`docrag.errors` (from the local runtime, or from
:mod:`docrag.client`, which picks them by the server's error ``code``); :func:`status_of` maps them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docrag.errors import DocRAGError

OK = 0
ERROR = 1  # anything else: a file the server refused, a failed ingestion, a conflict
USAGE = 2  # a wrong option or argument, a missing file (click's own usage errors are 2 too)
AUTH = 3  # 401/403: no key, a wrong key, or a key whose role may not do this
NOT_FOUND = 4  # 404: no such collection, document, answer or conversation
UNAVAILABLE = 5  # the server is down or unreachable, 5xx, or still rate-limited after the retries
INTERRUPTED = 130  # Ctrl-C

EPILOG = (
    "Exit statuses: 0 ok, 1 error, 2 usage error, 3 authentication or permission refused (401/403), "
    "4 not found (404), 5 server unreachable or unavailable (5xx, 429 after retries), 130 interrupted."
)


def status_of(exc: DocRAGError) -> int:
    """The exit status for a typed error: by its class, else by the HTTP status it came with."""
    from docrag.errors import AuthError, GeneratorFailed, NotFound, RateLimited, Unavailable

    if isinstance(exc, AuthError) or exc.status in (401, 403):
        return AUTH
    if isinstance(exc, NotFound) or exc.status == 404:
        return NOT_FOUND
    if isinstance(exc, Unavailable | GeneratorFailed | RateLimited) or exc.status >= 500 or exc.status == 429:
        return UNAVAILABLE
    return ERROR


def hint_for(exc: DocRAGError) -> str | None:
    """One line on what to do next, for the failures a user most often meets."""
    from docrag.errors import AuthError, Forbidden, ServerUnreachable

    if isinstance(exc, Forbidden):
        return "hint: this key's role may not do this; use an editor or admin key"
    if isinstance(exc, AuthError):
        return "hint: pass a valid API key with --key or DOCRAG_API_KEY (`docrag keys create` makes one)"
    if isinstance(exc, ServerUnreachable):
        return "hint: is `docrag serve` running there? check --url or DOCRAG_URL"
    return None
