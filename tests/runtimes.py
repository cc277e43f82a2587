"""A second runtime over a test module's database, for tests that need other settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from docrag.runtime import Runtime
from docrag.settings import Settings


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
