"""Calls of the HTTP API that many tests make, and the parsed /metrics."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


def upload(
    client: httpx.Client,
    collection: str,
    name: str,
    data: bytes,
    title: str | None = None,
    *,
    wait: bool = True,
) -> httpx.Response:
    """Upload; with ``wait`` (as these tests do) the answer comes once the document is indexed."""
    return client.post(
        f"/v1/collections/{collection}/documents",
        params={"wait": "true"} if wait else None,
        files={"file": (name, data, "application/octet-stream")},
        data={"title": title} if title is not None else None,
    )


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"]
    return str(body["error"]["code"])


def ask(client: httpx.Client, question: str, collection: str, **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/ask", json={"question": question, "collections": [collection], **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def scrape(anon: httpx.Client) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of /metrics by sample name, parsed by prometheus_client's own parser."""
    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(v for got, v in samples.get(name, []) if labels.items() <= got.items())
