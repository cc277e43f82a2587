"""One lock per key, made on first use: the in-process indexes rebuild a stale collection
under its own lock, so one rebuild of it runs at a time while other collections go on."""

from __future__ import annotations

import threading
from collections.abc import Hashable


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: Hashable) -> threading.Lock:
        """The lock of ``key``."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())
