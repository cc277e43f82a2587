"""HTTP request count and latency, per route template, method and status."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from prometheus_client import REGISTRY, Counter, Histogram

# Seconds; dense around the alert thresholds (p95 > 3 s warning, > 5 s critical).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 30.0, 60.0)
LABELS = ("route", "method", "status")
# Methods outside this set are counted as "other", so a client can't grow the label set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


@dataclass(frozen=True)
class HttpMetrics:
    requests: Counter
    duration: Histogram

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method if method in METHODS else "other", str(status))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)


@cache
def http_metrics() -> HttpMetrics:
    """The process's HTTP metrics, made once: several apps in one process share them (the default
    registry refuses a name twice); with PROMETHEUS_MULTIPROC_DIR set, values go to its files."""
    return HttpMetrics(
        requests=Counter("docrag_http_requests", "HTTP requests served", LABELS, registry=REGISTRY),
        duration=Histogram(
            "docrag_http_request_duration_seconds",
            "HTTP request duration, from the request's arrival to the end of its response",
            LABELS,
            buckets=BUCKETS,
            registry=REGISTRY,
        ),
    )
