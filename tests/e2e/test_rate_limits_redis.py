"""Rate limits in Redis (issue 14 point 6): two API processes on one real Redis never admit more than
the limit together, and with Redis killed mid-run they fail closed to a share of it each, answering
200 or 429 and never 500, until Redis is back and the windows are shared again."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ci_strict import needs
from docrag.services import Runtime, new_api_key

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
LIMIT = 10
SHARE = 0.5

pytestmark = needs(Path(REDIS_SERVER).exists(), "redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: object, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, httpx.TransportError):
            pass
        assert time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.1)


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A private Redis on a loopback port, nothing persisted."""
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, "redis")
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def api_processes(env: dict[str, str], count: int) -> Iterator[list[str]]:
    """``count`` separate uvicorn processes of the app, each on its own port."""
    procs, urls = [], []
    try:
        for _ in range(count):
            port = _free_port()
            argv = [sys.executable, "-m", "uvicorn", "--factory", "docrag.api.app:create_app"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
            procs.append(subprocess.Popen(argv, env=env))
            urls.append(f"http://127.0.0.1:{port}")
        for proc, url in zip(procs, urls, strict=True):
            assert proc.poll() is None, "uvicorn exited"
            _wait(lambda u=url: httpx.get(f"{u}/health/live", timeout=2).status_code == 200, "uvicorn")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def test_two_processes_share_one_redis_and_fail_closed_when_it_dies(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    # ``runtime`` migrated the module's database; the processes serve it.
    runtime.collection(runtime.default_tenant, "rate-redis", create=True)
    key, other = new_api_key(), new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "rate redis", key, "reader")
    runtime.store.add_api_key(runtime.default_tenant, "rate redis other", other, "reader")
    redis_port = _free_port()
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_INPROCESS_WORKER": "false",
        "DOCRAG_DATA_DIR": str(tmp_path / "data"),
        "DOCRAG_POOL_MAX_SIZE": "2",
        "DOCRAG_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DOCRAG_RATE_LIMITS": f"search={LIMIT}/minute",
        "DOCRAG_RATE_LIMIT_OUTAGE_SHARE": str(SHARE),
        "DOCRAG_RATE_LIMIT_REDIS_RETRY_SECONDS": "1",
    }
    body = {"query": "bees", "collections": ["rate-redis"]}

    def search(url: str, secret: str = other) -> int:
        headers = {"Authorization": f"Bearer {secret}"}
        return httpx.post(f"{url}/v1/search", json=body, headers=headers, timeout=30).status_code

    with redis_server(redis_port) as redis, api_processes(env, 2) as (first, second):
        # Shared: alternating between the processes, 10 admitted in all, not 10 each.
        codes = [search(url, key) for _ in range(15) for url in (first, second)]
        assert codes.count(200) == LIMIT, codes
        assert set(codes) == {200, 429}

        # Redis dies mid-run: each process admits its share on its own, never more, never a 500;
        # the key whose shared window was full stays refused (its hits do not age out with Redis).
        redis.kill()
        redis.wait(timeout=10)
        assert [search(url, key) for url in (first, second)] == [429, 429]
        during = {url: [search(url) for _ in range(LIMIT)] for url in (first, second)}
        for url, got in during.items():
            assert set(got) <= {200, 429}, (url, got)
            assert got.count(200) == int(LIMIT * SHARE), (url, got)

        # Redis is back (empty): after the retry interval the windows are shared again, so one
        # process admits the whole limit (its own outage window is full) and the other none.
        with redis_server(redis_port):
            time.sleep(1.5)
            back = [search(first) for _ in range(LIMIT + 3)]
            assert back.count(200) == LIMIT, back
            assert search(second) == 429


def test_one_round_trip_counts_in_the_same_windows_as_limits_own_calls() -> None:
    """The guard's pipelined hits (the key's and the tenant's windows, and the key's state, in one
    round trip) use the keys and the arithmetic of ``limits``: its own limiter, reading the same
    Redis, sees every hit; the RateLimit headers count down; the tenant's window refuses on its own."""
    import asyncio
    import uuid

    from limits import parse
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    from docrag.api.ratelimit import KEY_PREFIX, RateLimits
    from docrag.domain import Principal
    from docrag.errors import RateLimited
    from docrag.settings import Settings

    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"

    async def run() -> None:
        settings = Settings(
            redis_url=url, rate_limits="search=5/minute", tenant_rate_limits="search=7/minute"
        )
        limits = RateLimits(settings)
        storage = RedisStorage("async+" + url, implementation="redispy", key_prefix=KEY_PREFIX)
        tenant = uuid.uuid4()
        first = Principal(key_id=uuid.uuid4(), tenant_id=tenant, role="reader")
        second = Principal(key_id=uuid.uuid4(), tenant_id=tenant, role="reader")
        try:
            remaining = [(await limits.admit(first, "search"))["RateLimit-Remaining"] for _ in range(5)]
            assert remaining == ["4", "3", "2", "1", "0"]
            assert limits.windows.shared, "Redis answered: the windows must be the shared ones"
            for _ in range(4):  # the first refusal reads Redis, the next ones know the window is full
                with pytest.raises(RateLimited) as refused:
                    await limits.admit(first, "search")
                assert refused.value.headers["RateLimit-Remaining"] == "0"
                assert 1 <= refused.value.retry_after <= 60
            # limits' own limiter over the same Redis sees the key's 5 hits and the tenant's 6 (the
            # first refusal took one of the tenant's, the later ones none): the second key gets 1
            # more, then the tenant's window (7) refuses it.
            own = MovingWindowRateLimiter(storage)
            key_stats = await own.get_window_stats(parse("5/minute"), "key", str(first.key_id), "search")
            assert key_stats.remaining == 0
            tenant_stats = await own.get_window_stats(parse("7/minute"), "tenant", str(tenant), "search")
            assert tenant_stats.remaining == 1
            await limits.admit(second, "search")
            with pytest.raises(RateLimited) as by_tenant:
                await limits.admit(second, "search")
            assert "tenant" in str(by_tenant.value)
            assert by_tenant.value.headers["RateLimit-Limit"] == "7"
        finally:
            await limits.close()
            await storage.bridge.get_connection().aclose()

    with redis_server(port):
        asyncio.run(run())
