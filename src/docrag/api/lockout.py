"""Failed logins slow down, then lock, each account (docs/auth.md, "Lockout").

An account here is a tenant's name and an email, lower-cased, whether a user has it or not: an
unknown email slows down and locks exactly as a real one does, so neither the answers nor their
timing tell which emails exist (the password check itself costs the same for both,
``identity/passwords.py``). Failures count in a moving window (``DOCRAG_LOGIN_LOCKOUT``, in Redis
with DOCRAG_REDIS_URL, shared by every API process; else per process). Past
``DOCRAG_LOGIN_SLOWDOWN_AFTER`` failures each attempt first waits (on the event loop, holding no
thread); once the window is full every attempt is refused 429 ``account_locked`` with Retry-After
until the window has room again, the right password too. A successful login empties the window.
"""

from __future__ import annotations

import asyncio
import time

from limits import parse

from docrag.api.ratelimit import Windows
from docrag.errors import AccountLocked
from docrag.settings import Settings

#: The longest an attempt is made to wait, in seconds.
MAX_DELAY_SECONDS = 10.0
_NAMESPACE = "login-failures"


def account(tenant: str, email: str) -> str:
    return f"{tenant.strip().lower()}/{email.strip().lower()}"


class LoginLockout:
    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.login_lockout)
        self.after = settings.login_slowdown_after
        self.step = settings.login_slowdown_seconds
        self.windows = Windows(
            settings.redis_url, settings.rate_limit_outage_share, settings.rate_limit_redis_retry_seconds
        )

    def delay(self, failures: int) -> float:
        """Seconds an attempt waits after ``failures`` failures in the window."""
        return min(MAX_DELAY_SECONDS, self.step * max(0, failures - self.after))

    async def before(self, name: str) -> None:
        """Wait as long as the account's failures say.

        :raises AccountLocked: the account's window of failures is full."""
        verdict = await self.windows.peek(self.item, _NAMESPACE, name)  # with the window's state
        assert verdict.stats is not None
        if not verdict.allowed:
            wait = max(1.0, verdict.stats.reset_time - time.time())
            raise AccountLocked(
                f"too many failed logins for this account: it is locked; retry in {wait:.0f} s",
                retry_after=wait,
            )
        failures = verdict.item.amount - verdict.stats.remaining
        delay = self.delay(failures)
        if delay > 0:
            await asyncio.sleep(delay)

    async def failed(self, name: str) -> None:
        await self.windows.hit(self.item, _NAMESPACE, name, stats=False)

    async def succeeded(self, name: str) -> None:
        await self.windows.clear(self.item, _NAMESPACE, name)

    async def close(self) -> None:
        await self.windows.close()
