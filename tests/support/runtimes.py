"""A second runtime over a test module's database, for tests that need other settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from http_servers import serve


def second_runtime(database_url: str, **overrides: Any) -> Iterator[Runtime]:
    """Another runtime over the module's database (open the ``runtime`` fixture first: it
    migrates), with its own settings and no ingestion worker; closed when the caller is done."""
    rt = Runtime.open(
        Settings(database_url=database_url, pool_max_size=4, inprocess_worker=False, **overrides)
    )
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def served(rt: Runtime, key: str, *, timeout: float = 60) -> Iterator[httpx.Client]:
    """A real uvicorn server over ``rt``, and a client of it that presents ``key``."""
    with (
        serve(create_app(rt.settings, runtime=rt)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as client,
    ):
        yield client
