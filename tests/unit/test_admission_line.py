"""Admission's line (api/admission.py): a request joins it only if its expected wait (the line
ahead times the mean slot time) is within the allowed wait, so a burst that drains is absorbed and
overload is refused at once, with the admitted waiting no longer than allowed. The middleware is
the real one around a route that takes a fixed time, driven over ASGI."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from docrag.api.admission import Admission

SERVICE = 0.1  # seconds one search takes here


async def _search(request: Request) -> JSONResponse:
    await asyncio.sleep(SERVICE)
    return JSONResponse({"hits": []})


def _app(*, inflight: int, queue: int, wait: float) -> Admission:
    inner = Starlette(routes=[Route("/v1/search", _search, methods=["POST"])])
    return Admission(inner, inflight=inflight, queue=queue, wait_seconds=wait)


async def _timed(client: httpx.AsyncClient) -> tuple[int, float]:
    start = time.perf_counter()
    r = await client.post("/v1/search", json={})
    return r.status_code, time.perf_counter() - start


def test_a_burst_that_drains_is_served_not_refused() -> None:
    async def run() -> list[int]:
        app = _app(inflight=2, queue=64, wait=1.0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            # 10 at once on 2 slots: the last waits ~0.4 s, within the allowed second.
            return [s for s, _ in await asyncio.gather(*(_timed(c) for _ in range(10)))]

    assert asyncio.run(run()) == [200] * 10


def _overload(wait: float) -> tuple[list[tuple[int, float]], Admission]:
    """30 searches/s offered for 3 s to a route that serves 10/s (one slot, a deep queue)."""

    async def run() -> tuple[list[tuple[int, float]], Admission]:
        app = _app(inflight=1, queue=1000, wait=wait)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            tasks = []
            for _ in range(90):
                tasks.append(asyncio.create_task(_timed(c)))
                await asyncio.sleep(1 / 30)
            return list(await asyncio.gather(*tasks)), app

    return asyncio.run(run())


def test_overload_is_refused_at_once_and_the_admitted_wait_at_most_the_allowed_wait() -> None:
    results, app = _overload(wait=0.5)
    refused = [t for s, t in results if s == 503]
    served = [t for s, t in results if s == 200]
    assert len(refused) > len(results) / 2 and served, results
    assert max(refused) < 0.05, sorted(refused)[-3:]  # decided on arrival
    assert max(served) < 0.5 + SERVICE + 0.15, sorted(served)[-3:]  # allowed wait, service, slack
    assert 0.08 < app.service_seconds < 0.2  # it learned how long a slot is held
