"""Helpers shared by the queue and lifecycle tests: in-process workers, and raw SQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from docrag.services import Runtime


@contextmanager
def worker(runtime: Runtime) -> Iterator[None]:
    """Ingestion workers over ``runtime`` for the length of the block, then drained."""
    w = runtime.worker()
    w.start()
    try:
        yield
    finally:
        w.stop()
        assert w.join(60)


def sql(database_url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    """Run one statement on its own connection; its rows (none for a statement without)."""
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
