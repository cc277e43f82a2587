"""A typed Python client of the DocRAG HTTP API, sync (:class:`Client`) and async (:class:`AsyncClient`).

    from docrag.client import Client

    with Client("http://127.0.0.1:8000", key) as docrag:
        docrag.upload("handbook", "manual.pdf", progress=lambda sent, total: print(sent, total))
        for event in docrag.ask_stream("How do I descale the kettle?", collections=["handbook"]):
            ...

Answers and requests are the server's own pydantic models (:mod:`docrag.api.schemas`).
Errors are raised as the classes of :mod:`docrag.errors` (the one list of every error code),
chosen by the answer's ``code``, with ``status`` and ``retry_after`` set; a server that does not
answer at all raises :class:`docrag.errors.ServerUnreachable`. 429 and 503 answers are tried again
after their Retry-After (see :class:`RetryPolicy`).
"""

from docrag.client.aio import AsyncClient
from docrag.client.events import Answered, Started, StreamBroken, StreamEvent, TokenText
from docrag.client.retry import NO_RETRY, RetryPolicy
from docrag.client.sync import Client
from docrag.client.upload import Progress

__all__ = [
    "NO_RETRY",
    "Answered",
    "AsyncClient",
    "Client",
    "Progress",
    "RetryPolicy",
    "Started",
    "StreamBroken",
    "StreamEvent",
    "TokenText",
]
