"""The last component health check, reused while it is young enough for its reader.

A check embeds a probe text and runs several queries; Prometheus scrapes /metrics every few
seconds, and each scrape used to pay for a whole check. Now /metrics reuses a check of at most
``DOCRAG_METRICS_HEALTH_MAX_AGE_SECONDS`` (5 s). ``GET /health/components`` stays fresh: it runs
a check of its own, except that readers arriving while a check runs wait for it and share its
result, so a burst of load-balancer probes costs one check (a fresh check would have started
no earlier than they arrived).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from docrag.instruments import health_score
from docrag.observability.health import Health

#: ``GET /health/components``: no reuse but of a check that was running when the request came.
COMPONENTS_MAX_AGE_SECONDS = 0.0


class HealthCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        #: The last check: when it started, when it ended, and what it found.
        self._last: tuple[float, float, Health] | None = None
        #: How many checks this cache has run (its readers were served the rest from it).
        self.checks = 0

    def get(self, check: Callable[[], Health], max_age: float) -> Health:
        """A check started at most ``max_age`` seconds ago, or one still running when this
        call came; else ``check()``, run now."""
        arrived = self._clock()
        with self._lock:
            last = self._last
            if last is not None and (arrived - last[0] <= max_age or last[1] >= arrived):
                return last[2]
            started = self._clock()
            health = check()
            self.checks += 1
            self._last = (started, self._clock(), health)
            health_score().set(health.score)
            return health
