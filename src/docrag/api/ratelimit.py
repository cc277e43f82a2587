"""Rate limits: moving windows per API key, per tenant and per client address (docs/rate-limits.md).

The guard (``api/guard.py``) asks :class:`RateLimits` about every guarded request once it knows the
caller: the key's and the tenant's windows of the route's class (``api/roles.py``) must both have
room, or the answer is 429 ``rate_limited`` with ``Retry-After``. Requests refused 401 count against
their client address, and once an address is past ``auth_failure`` every credentialed request from
it is refused 429 until the window has room again, valid key or not, so guessing keys learns nothing.

With ``DOCRAG_REDIS_URL`` the windows live in Redis, shared by every API process. Without it each
process keeps its own in memory (N processes admit up to N times a limit). With Redis configured but
failing, the limits fail closed: each process falls back to its own windows at
``rate_limit_outage_share`` of every limit, and tries Redis again every
``rate_limit_redis_retry_seconds``. A Redis outage is never an open door nor a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import MovingWindowRateLimiter
from limits.util import WindowStats
from redis.commands.core import AsyncScript

from docrag.domain import Principal
from docrag.errors import RateLimited
from docrag.settings import Settings, rate_limit_table

_log = logging.getLogger(__name__)

#: An address found not blocked is not asked about again for this long (one Redis round trip less
#: per request); a refused credential from it, in this process, asks again at once.
CLEAR_ADDRESS_SECONDS = 1.0
_CLEAR_ADDRESSES_MAX = 10_000
#: Seconds one Redis command may take before this process treats Redis as down.
REDIS_TIMEOUT_SECONDS = 0.5
KEY_PREFIX = "docrag-ratelimit"
#: One window asked about: its limit, its identifiers, and whether to read its state.
Asked = tuple[RateLimitItem, tuple[str, ...], bool]


def _limits(configured: str, field: str) -> dict[str, RateLimitItem | None]:
    """The classes of a setting, each class it leaves out at its default (never unlimited by omission)."""
    default = Settings.model_fields[field].default
    table = rate_limit_table(default) | rate_limit_table(configured)
    return {name: None if text == "unlimited" else parse(text) for name, text in table.items()}


@dataclass(frozen=True, slots=True)
class _Verdict:
    allowed: bool
    #: The window's state: read when the caller wants headers, and always on a refusal.
    stats: WindowStats | None
    item: RateLimitItem  # the limit applied (a share of the configured one during a Redis outage)

    def headers(self) -> dict[str, str]:
        if self.stats is None:
            return {}
        reset = max(0, round(self.stats.reset_time - time.time()))
        return {
            "RateLimit-Limit": str(self.item.amount),
            "RateLimit-Remaining": str(max(0, self.stats.remaining)),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{self.item.amount};w={self.item.get_expiry()}",
        }

    def refusal(self, what: str) -> RateLimited:
        assert self.stats is not None  # a refusal always reads its window
        wait = max(1.0, self.stats.reset_time - time.time())
        return RateLimited(
            f"too many requests: {what} allows {self.item.amount} per {self.item.get_expiry()} s; "
            f"retry in {wait:.0f} s",
            retry_after=wait,
            headers=self.headers(),
        )


class Windows:
    """Moving windows in Redis while it answers, else in this process's memory."""

    def __init__(self, redis_url: str | None, outage_share: float, retry_seconds: float) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._storage: RedisStorage | None = None
        if redis_url:
            self._pool = redis.asyncio.ConnectionPool.from_url(
                redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            )
            storage = RedisStorage(
                "async+" + redis_url,
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=KEY_PREFIX,
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
            self._redis = MovingWindowRateLimiter(storage)
            self._storage = storage
        self._share = outage_share
        self._retry_seconds = retry_seconds
        self._down_until = 0.0
        self.degraded = False

    @property
    def shared(self) -> bool:
        """Whether the windows are Redis's now (all processes), not this process's."""
        return self._redis is not None and not self.degraded

    async def hit(self, item: RateLimitItem, *ids: str, stats: bool = True) -> _Verdict:
        """Count one request; ``stats``: read the window for headers (a refusal always does)."""
        return await self._run(item, ids, consume=True, stats=stats)

    async def peek(self, item: RateLimitItem, *ids: str, stats: bool = True) -> _Verdict:
        """Whether one more hit would be admitted, consuming nothing."""
        return await self._run(item, ids, consume=False, stats=stats)

    async def _run(
        self, item: RateLimitItem, ids: tuple[str, ...], *, consume: bool, stats: bool
    ) -> _Verdict:
        return (await self._all([(item, ids, stats)], consume=consume))[0]

    async def hit_all(self, requests: Sequence[Asked]) -> list[_Verdict]:
        """Count one request in each window of ``requests`` (item, ids, read its state), in Redis in
        one round trip: the scripts of ``limits`` sent down one pipeline, so the same keys and the
        same moving-window arithmetic as :meth:`hit`."""
        return await self._all(requests, consume=True)

    async def _all(self, requests: Sequence[Asked], *, consume: bool) -> list[_Verdict]:
        if self._redis is not None and time.monotonic() >= self._down_until:
            try:
                if consume and self._storage is not None:
                    verdicts = await _pipelined(self._redis, self._storage, requests)
                else:
                    verdicts = [await _apply(self._redis, i, ids, consume, st) for i, ids, st in requests]
            except Exception as exc:  # any failure of Redis: fail closed to this process's windows
                self._down_until = time.monotonic() + self._retry_seconds
                if not self.degraded:
                    _log.warning(
                        "rate limits: Redis failed (%s: %s); each process now admits %.0f%% of every "
                        "limit on its own until Redis answers again",
                        type(exc).__name__,
                        exc,
                        self._share * 100,
                    )
                self.degraded = True
            else:
                if self.degraded:
                    _log.warning("rate limits: Redis answers again; the windows are shared again")
                    self.degraded = False
                return verdicts
        results = []
        for item, ids, stats in requests:
            if self._redis is not None:
                item = type(item)(max(1, int(item.amount * self._share)), item.multiples, item.namespace)
            results.append(await _apply(self._memory, item, ids, consume, stats))
        return results

    async def clear(self, item: RateLimitItem, *ids: str) -> None:
        """Empty the window (in Redis, if it answers, and in this process)."""
        if self._redis is not None and time.monotonic() >= self._down_until:
            try:
                await self._redis.clear(item, *ids)
            except Exception as exc:  # what is left in Redis only ages out: the window still closes
                _log.warning("rate limits: Redis failed to clear a window (%s: %s)", type(exc).__name__, exc)
        await self._memory.clear(item, *ids)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


async def _apply(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, ids: tuple[str, ...], consume: bool, stats: bool
) -> _Verdict:
    allowed = await (limiter.hit(item, *ids) if consume else limiter.test(item, *ids))
    # One round trip less per window (of Redis's two) when nothing needs the window's state.
    window = await limiter.get_window_stats(item, *ids) if stats or not allowed else None
    return _Verdict(allowed, window, item)


async def _pipelined(
    limiter: MovingWindowRateLimiter,
    storage: RedisStorage,
    requests: Sequence[Asked],
) -> list[_Verdict]:
    """Each window's hit, and its state where asked, in one round trip to Redis.

    The scripts are ``limits``' own (its redis-py bridge registers them), run in order on one
    connection of a non-transactional pipeline; a refused window whose state was not asked for is
    read afterwards (a refusal always carries its window)."""
    bridge = cast(RedispyBridge, storage.bridge)
    now = time.time()
    client = cast(redis.asyncio.Redis, bridge.get_connection())
    # the bridge registered them on its asyncio client (its annotation names the sync class)
    acquire = cast(AsyncScript, bridge.lua_acquire_moving_window)
    window_of = cast(AsyncScript, bridge.lua_moving_window)
    async with client.pipeline(transaction=False) as pipe:
        for item, ids, stats in requests:
            key = bridge.prefixed_key(item.key_for(*ids))
            await acquire([key], [now, item.amount, item.get_expiry(), 1], client=pipe)
            if stats:
                await window_of([key], [now - item.get_expiry(), item.amount], client=pipe)
        replies = iter(await pipe.execute())
    verdicts = []
    for item, ids, stats in requests:
        allowed = bool(next(replies))
        window: WindowStats | None = None
        if stats:
            found = next(replies)
            start, count = (float(found[0]), int(found[1])) if found else (now, 0)
            window = WindowStats(start + item.get_expiry(), item.amount - count)
        elif not allowed:
            window = await limiter.get_window_stats(item, *ids)
        verdicts.append(_Verdict(allowed, window, item))
    return verdicts


class RateLimits:
    """The limits of one API process (built in the app's lifespan, on its event loop)."""

    def __init__(self, settings: Settings) -> None:
        self.per_key = _limits(settings.rate_limits, "rate_limits")
        self.per_tenant = _limits(settings.tenant_rate_limits, "tenant_rate_limits")
        self.per_address = _limits(settings.ip_rate_limits, "ip_rate_limits")
        self.windows = Windows(
            settings.redis_url, settings.rate_limit_outage_share, settings.rate_limit_redis_retry_seconds
        )
        self._clear_until: dict[str, float] = {}  # address -> until when it is known not blocked
        self._full: dict[tuple[str, ...], _Verdict] = {}  # shared windows known full, till reset

    async def admit(self, principal: Principal, route_class: str) -> dict[str, str]:
        """The RateLimit-* headers of the key's window, once the key's and the tenant's windows
        of ``route_class`` have both admitted the request.

        :raises RateLimited: either window is full."""
        kind, subject = principal.subject  # an API key, or a signed-in user (all sessions)
        whose = "this API key" if kind == "key" else "this user"
        key_limit = self.per_key.get(route_class)
        windows = [
            (limit, ids, what)
            for limit, ids, what in (
                (key_limit, (kind, subject, route_class), f"{whose}'s"),
                (
                    self.per_tenant.get(route_class),
                    ("tenant", str(principal.tenant_id), route_class),
                    "this tenant's",
                ),
            )
            if limit is not None
        ]
        now = time.time()
        for _, ids, what in windows:
            known = self._full.get(ids)
            if known is not None and known.stats is not None and known.stats.reset_time > now:
                raise known.refusal(f"{what} {route_class} limit")  # still full: Redis is not asked
        # Both windows, and the key's state for the headers, in one round trip to Redis.
        verdicts = await self.windows.hit_all(
            [(limit, ids, i == 0) for i, (limit, ids, _) in enumerate(windows)]
        )
        for (_, ids, what), verdict in zip(windows, verdicts, strict=True):
            if not verdict.allowed:
                self._remember_full(ids, verdict)
                raise verdict.refusal(f"{what} {route_class} limit")
        return verdicts[0].headers() if key_limit is not None else {}

    def _remember_full(self, ids: tuple[str, ...], verdict: _Verdict) -> None:
        """A shared moving window that refused stays full until its oldest hit ages out (other
        processes can only add hits), so until then this process refuses without asking Redis, and
        a key hammering past its limit stops taking its tenant's window with it."""
        if not self.windows.shared:
            return  # a share of the limit during an outage: not the shared window's state
        if len(self._full) >= _CLEAR_ADDRESSES_MAX:
            self._full.clear()
        self._full[ids] = verdict

    async def admit_address(self, address: str, route_class: str) -> dict[str, str]:
        """For a public route with a per-address class (login): count the request against it.

        :raises RateLimited: the address's window is full."""
        limit = self.per_address.get(route_class)
        if limit is None:
            return {}
        verdict = await self.windows.hit(limit, "address", address, route_class)
        if not verdict.allowed:
            raise verdict.refusal(f"this address's {route_class} limit")
        return verdict.headers()

    async def admit_account(self, account: str) -> dict[str, str]:
        """For a login route, once it has read the account it is asked for (an email): count the
        attempt against that account's ``login`` window, whether the account exists or not.

        :raises RateLimited: the account's window is full."""
        limit = self.per_key.get("login")
        if limit is None:
            return {}
        verdict = await self.windows.hit(limit, "account", account.strip().lower(), "login")
        if not verdict.allowed:
            raise verdict.refusal("this account's login limit")
        return verdict.headers()

    async def refuse_blocked(self, address: str) -> None:
        """:raises RateLimited: ``address`` is past its ``auth_failure`` limit."""
        limit = self.per_address.get("auth_failure")
        if limit is None:
            return
        if self._clear_until.get(address, 0.0) > time.monotonic():
            return
        verdict = await self.windows.peek(limit, "address", address, "auth_failure", stats=False)
        if not verdict.allowed:
            raise verdict.refusal("this address's limit of refused credentials")
        if len(self._clear_until) >= _CLEAR_ADDRESSES_MAX:
            self._clear_until.clear()
        self._clear_until[address] = time.monotonic() + CLEAR_ADDRESS_SECONDS

    async def failed(self, address: str) -> None:
        """Count a request refused 401 against its address."""
        limit = self.per_address.get("auth_failure")
        if limit is not None:
            self._clear_until.pop(address, None)
            await self.windows.hit(limit, "address", address, "auth_failure", stats=False)

    async def close(self) -> None:
        await self.windows.close()
