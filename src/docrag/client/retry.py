"""When to try a call again: 429 and 503 answers (after their Retry-After) and connections that
never reached the server, a bounded number of times."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from docrag.client.calls import RETRY_STATUSES, retry_after


@dataclass(frozen=True)
class RetryPolicy:
    #: Tries in all, the first included (1: never retry).
    attempts: int = 4
    #: Wait before the second try when the server names none; doubles each time.
    backoff: float = 0.5
    #: The longest wait between two tries; a longer Retry-After is not waited for (the error is raised).
    max_wait: float = 30.0

    def wait_after(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to give up with this answer."""
        if attempt >= self.attempts:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            named = retry_after(response)
            if named is not None:
                return named if named <= self.max_wait else None
        return float(min(self.max_wait, self.backoff * 2.0 ** (attempt - 1)))


NO_RETRY = RetryPolicy(attempts=1)

#: Failures where the request never reached the server: safe to send again, whatever the method.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout)
