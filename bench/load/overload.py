"""Overload: searches offered at three times what the server can serve, then the load drops.

    python bench/load/overload.py --data-dir /tmp/scale-100k [--factor 3] [--seconds 40]

It starts ``docrag serve`` on the data dir (as run.py does; rate limits off), then:

1. capacity: ``--clients`` closed-loop clients search back to back for ``--probe-seconds``; their
   throughput is the capacity C (requests/s) and their p50 the baseline latency;
2. overload: searches arrive open-loop (Poisson, whatever the answers do) at ``--factor`` x C for
   ``--seconds``; each one's status, latency and Retry-After are kept;
3. recovery: one search a second after the load stops, until five in a row take under twice the
   baseline p50; the seconds until the first of them is the recovery time.

Every query is distinct (a counter in the text), so the search cache never answers: this is the
uncached path, the expensive one. Prints the offered and admitted rates, the share refused (429 or
503 ``overloaded``) and how fast refusals came (target: under 100 ms), admitted p50/p95 (target:
p95 under 2 s), client timeouts (target: 0), any other error, and the recovery time (target: under
30 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import server  # a script beside this one

TOPICS = [f"what does section {n} say about topic {n % 37}" for n in range(200)]
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int  # 0: the client gave up (timeout) or the connection failed
    seconds: float
    retry_after: bool
    failure: str = ""  # the client's exception, for status 0


def _query() -> dict[str, object]:
    return {"query": f"{random.choice(TOPICS)} {next(_counter)}", "collections": ["scale-main"]}


async def _one(client: httpx.AsyncClient) -> Outcome:
    start = time.perf_counter()
    try:
        r = await client.post("/v1/search", json=_query())
    except httpx.HTTPError as exc:
        return Outcome(0, time.perf_counter() - start, False, type(exc).__name__)
    return Outcome(r.status_code, time.perf_counter() - start, "retry-after" in r.headers)


async def _closed_loop(client: httpx.AsyncClient, clients: int, seconds: float) -> list[Outcome]:
    deadline = time.monotonic() + seconds
    out: list[Outcome] = []

    async def loop() -> None:
        while time.monotonic() < deadline:
            out.append(await _one(client))

    await asyncio.gather(*(loop() for _ in range(clients)))
    return out


async def _open_loop(client: httpx.AsyncClient, rate: float, seconds: float) -> list[Outcome]:
    """Arrivals on a Poisson schedule of absolute times: a late wake-up sends the requests that
    are due at once, so the offered rate is the one asked for, however busy this loop is."""
    tasks: list[asyncio.Task[Outcome]] = []
    start = time.monotonic()
    due = start
    while due < start + seconds:
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(_one(client)))
        due += random.expovariate(rate)
    return list(await asyncio.gather(*tasks))


async def _warm_up(client: httpx.AsyncClient) -> None:
    """Until searches are fast: the first one builds the collection's BM25 index (seconds at 100k
    chunks), and the model, pools and caches of PostgreSQL warm up."""
    deadline = time.monotonic() + 300
    fast = 0
    while fast < 10 and time.monotonic() < deadline:
        fast = fast + 1 if (await _one(client)).seconds < 0.5 else 0
    await _closed_loop(client, 2, 5)


async def _recovery(client: httpx.AsyncClient, baseline: float, limit: float) -> float | None:
    start = time.monotonic()
    good_since: float | None = None
    streak = 0
    while time.monotonic() - start < limit:
        probe_start = time.monotonic()
        outcome = await _one(client)
        if outcome.status == 200 and outcome.seconds < 2 * baseline:
            streak += 1
            good_since = probe_start if good_since is None else good_since
            if streak == 5:
                return good_since - start
        else:
            streak, good_since = 0, None
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - probe_start)))
    return None


_BUCKET = re.compile(
    r"^docrag_http_request_duration_seconds_bucket\{(?P<labels>[^}]*)\} (?P<count>[0-9.e+]+)$", re.M
)


async def _server_buckets(client: httpx.AsyncClient) -> dict[tuple[str, float], float]:
    """The server's own latency histogram of POST /v1/search, per status and bucket bound."""
    text = (await client.get("/metrics")).text
    found: dict[tuple[str, float], float] = {}
    for match in _BUCKET.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("route") == "/v1/search" and labels.get("method") == "POST":
            found[(labels["status"], float(labels["le"]))] = float(match["count"])
    return found


def _server_view(before: dict[tuple[str, float], float], after: dict[tuple[str, float], float]) -> None:
    """As the server measured them (from arrival in its middleware to the response's end): the
    share of refusals answered within 100 ms and of admitted searches within 2 s, read exactly
    off the histogram's 0.1 s and 2 s bounds."""
    checks = (("503", 0.1, "refused 503 within 100 ms"), ("200", 2.0, "admitted within 2 s"))
    for status, bound, what in checks:
        total = after.get((status, float("inf")), 0) - before.get((status, float("inf")), 0)
        within = after.get((status, bound), 0) - before.get((status, bound), 0)
        share = f"{within / total:.1%}" if total else "n/a"
        print(f"  server-side: {what}: {share} of {total:.0f}")


def _ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 1) if values else float("nan")


async def _main(url: str, key: str, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        await _warm_up(client)
        probe = await _closed_loop(client, args.clients, args.probe_seconds)
        ok = [o.seconds for o in probe if o.status == 200]
        capacity = len(ok) / args.probe_seconds
        baseline = float(np.percentile(ok, 50))
        print(
            f"capacity: {args.clients} clients, {capacity:.1f} searches/s,"
            f" p50 {_ms(ok, 50)} ms, p95 {_ms(ok, 95)} ms"
        )
        rate = args.factor * capacity
        before = await _server_buckets(client)
        outcomes = await _open_loop(client, rate, args.seconds)
        after = await _server_buckets(client)
        admitted = [o.seconds for o in outcomes if o.status == 200]
        refused = [o for o in outcomes if o.status in (429, 503)]
        timeouts = sum(o.status == 0 for o in outcomes)
        other = sum(o.status not in (0, 200, 429, 503) for o in outcomes)
        print(
            f"overload: offered {len(outcomes) / args.seconds:.1f}/s ({args.factor}x) for {args.seconds} s,"
            f" {len(outcomes)} requests"
        )
        print(
            f"  admitted {len(admitted)} ({len(admitted) / args.seconds:.1f}/s):"
            f" p50 {_ms(admitted, 50)} ms, p95 {_ms(admitted, 95)} ms, p99 {_ms(admitted, 99)} ms"
        )
        refusal_times = [o.seconds for o in refused]
        print(
            f"  refused {len(refused)} ({len(refused) / max(1, len(outcomes)):.1%}), all with Retry-After:"
            f" {all(o.retry_after for o in refused)}; answered in p50 {_ms(refusal_times, 50)} ms,"
            f" p95 {_ms(refusal_times, 95)} ms, max {_ms(refusal_times, 100)} ms"
        )
        failures = Counter(o.failure for o in outcomes if o.status == 0)
        print(f"  client timeouts or failed connections {timeouts} {dict(failures)}; other statuses {other}")
        _server_view(before, after)
    # A fresh client for the recovery: nothing of the overload's connections is reused.
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        recovered = await _recovery(client, baseline, args.recovery_limit)
    print(
        f"recovery: back to normal {recovered:.1f} s after the load dropped"
        if recovered is not None
        else f"recovery: not back to normal within {args.recovery_limit} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a corpus made by bench/scale.py")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop clients measuring capacity")
    parser.add_argument("--probe-seconds", type=float, default=20)
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--recovery-limit", type=float, default=60)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    with server(args.data_dir, env) as (url, key, _):
        asyncio.run(_main(url, key, args))


if __name__ == "__main__":
    main()
