"""Admission control (issue 16.3): past what a process may run at once, search, ask and upload
requests are refused 503 ``overloaded`` with Retry-After instead of queueing without bound;
cheap routes still answer, and the process serves normally as soon as the load is gone.

The slow work is a real one: asks answered by a loopback LLM stand-in that takes 1.5 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from docrag.services import Runtime
from llm_server import ChatServer
from runtimes import second_runtime, served

QUESTION = "How often does the keeper replace the lamp of the Brightwater lighthouse?"
DOC = b"""# Brightwater Lighthouse

The keeper replaces the lamp of the Brightwater lighthouse every six months.
Spare lamps are stored in the oil room at the foot of the tower.
"""
INFLIGHT, QUEUE = 2, 2


@pytest.fixture(scope="module")
def llm() -> Iterator[ChatServer]:
    server = ChatServer()
    server.delay = 1.5
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gated(
    database_url: str, runtime: Runtime, admin_key: str, client: httpx.Client, llm: ChatServer
) -> Iterator[httpx.Client]:
    assert client.post("/v1/collections", json={"name": "lamps"}).status_code == 201
    r = client.post(
        "/v1/collections/lamps/documents",
        params={"wait": "true"},
        files={"file": ("l.md", DOC, "text/markdown")},
    )
    assert r.status_code == 201, r.text
    for rt in second_runtime(
        database_url,
        generator="openai",
        llm_base_url=llm.url + "/v1",
        llm_model="stand-in",
        llm_api_key="sk-test",
        llm_retries=0,
        llm_timeout_seconds=10.0,
        answer_cache_seconds=0,
        max_inflight_requests=INFLIGHT,
        admission_queue=QUEUE,
        admission_wait_seconds=0.4,
    ):
        with served(rt, admin_key) as c:
            yield c


def _ask(c: httpx.Client) -> tuple[httpx.Response, float]:
    r = c.post("/v1/ask", json={"question": QUESTION, "collections": ["lamps"]})
    return r, r.elapsed.total_seconds()


def test_requests_past_capacity_are_refused_at_once_and_the_admitted_ones_are_served(
    gated: httpx.Client,
) -> None:
    with ThreadPoolExecutor(max_workers=12) as pool:
        asks = [pool.submit(_ask, gated) for _ in range(10)]
        # While the slots are full, cheap routes are not held up.
        assert gated.get("/health/live").status_code == 200
        assert gated.get("/v1/collections").status_code == 200
        results = [f.result() for f in asks]

    admitted = [(r, t) for r, t in results if r.status_code == 200]
    refused = [(r, t) for r, t in results if r.status_code != 200]
    assert len(admitted) == INFLIGHT, [r.status_code for r, _ in results]
    assert len(refused) == 10 - INFLIGHT
    for r, _ in refused:
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "overloaded"
        assert r.headers["Retry-After"] == "1"
    for r, _ in admitted:
        assert r.json()["answered"] is True
        assert "six months" in r.json()["answer"]
    # No refusal waited for the slow model: each came back before the first admitted answer.
    assert max(t for _, t in refused) < min(t for _, t in admitted)

    # The load is gone: the next request is served, nothing was left queued behind.
    r, _ = _ask(gated)
    assert r.status_code == 200 and r.json()["answered"] is True
    metrics = gated.get("/metrics").text
    assert 'docrag_admission_refused_total{reason="queue_full",route_class="ask"}' in metrics


def test_searches_are_gated_and_reads_are_not(gated: httpx.Client) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        slow = [pool.submit(_ask, gated) for _ in range(INFLIGHT + QUEUE)]
        # Once every slot and queue place holds a slow ask, a search is refused at once and a
        # document list is served.
        while True:
            search = gated.post("/v1/search", json={"query": "lamp", "collections": ["lamps"]})
            if search.status_code == 503 or all(f.done() for f in slow):
                break
        listing = gated.get("/v1/collections/lamps/documents")
        for f in slow:
            f.result()
    assert search.status_code == 503 and search.json()["error"]["code"] == "overloaded"
    assert listing.status_code == 200
