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

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.util import WindowStats

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
        if self._redis is not None and time.monotonic() >= self._down_until:
            try:
                verdict = await _apply(self._redis, item, ids, consume, stats)
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
                return verdict
        if self._redis is not None:
            item = type(item)(max(1, int(item.amount * self._share)), item.multiples, item.namespace)
        return await _apply(self._memory, item, ids, consume, stats)

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

    async def admit(self, principal: Principal, route_class: str) -> dict[str, str]:
        """The RateLimit-* headers of the key's window, once the key's and the tenant's windows
        of ``route_class`` have both admitted the request.

        :raises RateLimited: either window is full."""
        key_limit = self.per_key.get(route_class)
        tenant_limit = self.per_tenant.get(route_class)
        kind, subject = principal.subject  # an API key, or a signed-in user (all sessions)
        # Both windows at once (two Redis connections): the request waits for one round trip, not two.
        mine, tenant = await asyncio.gather(
            self._hit(key_limit, kind, subject, route_class, stats=True),
            self._hit(tenant_limit, "tenant", str(principal.tenant_id), route_class, stats=False),
        )
        if mine is not None and not mine.allowed:
            whose = "this API key" if kind == "key" else "this user"
            raise mine.refusal(f"{whose}'s {route_class} limit")
        if tenant is not None and not tenant.allowed:
            raise tenant.refusal(f"this tenant's {route_class} limit")
        return mine.headers() if mine is not None else {}

    async def _hit(self, limit: RateLimitItem | None, *ids: str, stats: bool) -> _Verdict | None:
        return None if limit is None else await self.windows.hit(limit, *ids, stats=stats)

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
