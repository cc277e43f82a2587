"""Reads a Server-Sent Events response as (event, data) pairs, as they arrive (httpx-sse parses
the wire format; the data of each event is JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import EventSource


def events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    for sse in EventSource(response).iter_sse():
        if sse.data:
            yield sse.event, json.loads(sse.data)
