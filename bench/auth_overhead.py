"""What authentication and rate limiting add to /v1/search latency, over HTTP on loopback.

    python bench/auth_overhead.py --n 400 [--redis redis://127.0.0.1:6379/0]

Starts an embedded PostgreSQL in a temporary folder (or uses DOCRAG_DATABASE_URL), uploads a few
small documents, and serves one runtime through three apps: rate limiting off, on with each process's
own windows, and on in Redis (skipped when it does not answer). Searches go round-robin over the three
so drift hits all alike; prints p50/p95 per mode and the p95 differences to "off". A fourth mode signs
in a user and searches with its access token (EdDSA JWT, session checked per request) and Redis limits.
Authentication is in every mode; its own cost is printed as the p95 of the API's authenticator
alone, for an API key and for an access token. The end-to-end differences move by a millisecond or
more between runs on a busy machine, so the guard's work is also timed directly, call by call: the
authenticator, then the address check and the key's and tenant's windows (``RateLimits``, in memory
and in Redis), as the guard runs them for each search (``guard_*_p95_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import redis
import uvicorn

from docrag.api.app import create_app
from docrag.api.auth import Authenticator, credentials
from docrag.api.ratelimit import RateLimits
from docrag.identity.accounts import Accounts
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings

_ALL = "ask=1000000/minute,search=1000000/minute,upload=1000000/minute,other=1000000/minute"
GENEROUS = {"rate_limits": _ALL, "tenant_rate_limits": _ALL}
TOPICS = ["bees and honey", "rivers and floods", "volcanoes", "tea harvests", "glaciers", "printing presses"]


@contextmanager
def _served(settings: Settings, runtime: Runtime) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime=runtime), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 3)


async def _guard_times(authenticator: Authenticator, settings: Settings, secret: str, n: int) -> list[float]:
    """Seconds of the guard's own work per request: authenticate, then the rate limits."""
    limits = RateLimits(settings)
    headers = {"authorization": f"Bearer {secret}"}
    times = []
    try:
        for i in range(n + 20):
            t0 = time.perf_counter()
            principal = authenticator.authenticate(headers)
            assert principal is not None
            await limits.refuse_blocked("127.0.0.1")
            await limits.admit(principal, "search")
            if i >= 20:
                times.append(time.perf_counter() - t0)
    finally:
        await limits.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=400, help="searches per mode")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="docrag-bench-auth-") as folder:
        base = Settings(data_dir=Path(folder), inprocess_worker=True, answer_cache_seconds=0)
        runtime = Runtime.open(base)
        key = new_api_key()
        runtime.store.add_api_key(runtime.default_tenant, "bench", key, "editor")
        password = "bench user password"
        Accounts(runtime.identity).create(runtime.default_tenant, "bench@example.com", password, "reader")
        runtime.collection(runtime.default_tenant, "bench", create=True)
        modes = {
            "off": base.model_copy(update={"rate_limiting": False}),
            "memory": base.model_copy(update=GENEROUS),
        }
        try:
            redis.Redis.from_url(args.redis, socket_timeout=1).ping()
            modes["redis"] = base.model_copy(update={**GENEROUS, "redis_url": args.redis})
        except redis.RedisError:
            print(f"# no Redis at {args.redis}: the redis mode is skipped")
        try:
            auth = {"Authorization": f"Bearer {key}"}
            with (
                _served(modes["off"], runtime) as url,
                httpx.Client(base_url=url, headers=auth, timeout=120) as c,
            ):
                for i, topic in enumerate(TOPICS):
                    text = f"# {topic}\n\n" + " ".join(f"Sentence {j} is about {topic}." for j in range(60))
                    files = {"file": (f"doc{i}.md", text.encode())}
                    c.post("/v1/collections/bench/documents?wait=true", files=files).raise_for_status()
            with (
                _served(modes["off"], runtime) as off,
                _served(modes["memory"], runtime) as memory,
                _served(modes.get("redis", modes["memory"]), runtime) as redis_url,
            ):
                urls = {"off": off, "memory": memory, "redis": redis_url}
                urls = {m: u for m, u in urls.items() if m in modes}
                clients = {
                    m: httpx.Client(base_url=u, headers={"Authorization": f"Bearer {key}"}, timeout=60)
                    for m, u in urls.items()
                }
                signed_in = httpx.post(
                    f"{redis_url}/v1/auth/login", json={"email": "bench@example.com", "password": password}
                )
                signed_in.raise_for_status()
                token = signed_in.json()["access_token"]
                clients["jwt"] = httpx.Client(
                    base_url=redis_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
                )
                times: dict[str, list[float]] = {m: [] for m in clients}
                for i in range(args.n + 20):
                    body = {"query": TOPICS[i % len(TOPICS)], "collections": ["bench"]}
                    for mode, client in clients.items():
                        t0 = time.perf_counter()
                        client.post("/v1/search", json=body).raise_for_status()
                        if i >= 20:  # the first rounds warm up
                            times[mode].append(time.perf_counter() - t0)
                for client in clients.values():
                    client.close()
            authenticator = credentials(runtime)
            guard = {
                f"{mode}_{kind}": asyncio.run(_guard_times(authenticator, modes[mode], secret, args.n))
                for mode in ("memory", "redis")
                if mode in modes
                for kind, secret in (("api_key", key), ("access_token", token))
            }
            lookups: dict[str, list[float]] = {"api_key": [], "access_token": []}
            for _ in range(args.n):
                for kind, secret in (("api_key", key), ("access_token", token)):
                    t0 = time.perf_counter()
                    assert authenticator.authenticate({"authorization": f"Bearer {secret}"}) is not None
                    lookups[kind].append(time.perf_counter() - t0)
        finally:
            runtime.close()
    report = {
        "searches_per_mode": args.n,
        **{f"{m}_p50_ms": _p(t, 50) for m, t in times.items()},
        **{f"{m}_p95_ms": _p(t, 95) for m, t in times.items()},
        **{
            f"{m}_minus_off_p95_ms": round(_p(t, 95) - _p(times["off"], 95), 3)
            for m, t in times.items()
            if m != "off"
        },
        **{f"authenticate_{kind}_p95_ms": _p(t, 95) for kind, t in lookups.items()},
        **{f"guard_{name}_p95_ms": _p(t, 95) for name, t in guard.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
