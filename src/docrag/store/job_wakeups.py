"""Wake-ups for the ingestion queue: a NOTIFY on every enqueue, heard on a connection of its own.

Polling alone finds every job; the listener only cuts the latency from enqueue to claim.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

_log = logging.getLogger(__name__)

CHANNEL = "docrag_jobs"  # NOTIFY channel: a job was queued


def listen(url: str, stop: threading.Event, wake: Callable[[], None], *, timeout: float = 1.0) -> None:
    """Call ``wake`` on every notification on :data:`CHANNEL` until ``stop`` is set."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=timeout, stop_after=1):
                        wake()
        except psycopg.OperationalError as exc:
            # Reconnect later (a connection closed because we are stopping is no news).
            if not stop.is_set():
                _log.warning("job listener lost its connection: %s", exc)
            stop.wait(timeout)
