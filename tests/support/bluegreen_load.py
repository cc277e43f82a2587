"""A bounded load driver for the blue-green tests and bench/deploy_switch.py: a few threads send
health checks and searches through nginx until stopped (or a cap on count and time), recording
every answer's status, latency and the colour nginx says served it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Outcome:
    kind: str  # "ready" or "search"
    status: int  # 0: no HTTP answer at all (connection refused, reset, timeout)
    seconds: float
    color: str  # nginx's X-DocRAG-Color, "" without one
    upstream: str  # nginx's X-DocRAG-Upstream: the address that answered
    error: str = ""


@dataclass
class Load:
    """``threads`` clients, each at most ``max_requests`` requests and ``max_seconds`` long."""

    base_url: str
    api_key: str
    collection: str
    threads: int = 4
    max_requests: int = 5000
    max_seconds: float = 300.0
    outcomes: list[Outcome] = field(default_factory=list)
    #: Requests sent a second time after a kept-alive connection closed before any answer.
    resent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _answered: threading.Condition = field(init=False)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._answered = threading.Condition(self._lock)

    def __enter__(self) -> Load:
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=150)

    def _run(self, n: int) -> None:
        deadline = time.monotonic() + self.max_seconds
        headers = {"Authorization": f"Bearer {self.api_key}"}
        # Keep-alive, as real clients: a connection nginx closes on reload must not cost a request.
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=60) as http:
            for i in range(self.max_requests):
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                kind = "search" if (i + n) % 2 else "ready"
                start = time.perf_counter()
                try:
                    got = self._send(http, kind)
                except httpx.HTTPError as exc:
                    self._record(Outcome(kind, 0, time.perf_counter() - start, "", "", repr(exc)))
                    continue
                self._record(
                    Outcome(
                        kind,
                        got.status_code,
                        time.perf_counter() - start,
                        got.headers.get("x-docrag-color", ""),
                        got.headers.get("x-docrag-upstream", ""),
                        "" if got.status_code == 200 else got.text[:200],
                    )
                )

    def _send(self, http: httpx.Client, kind: str) -> httpx.Response:
        """One request; sent once more if the server closed a kept-alive connection before any
        answer, or reset it (nginx closes idle ones on reload: a request sent that same instant never
        reached it), as HTTP clients do for requests that change nothing (RFC 9110 9.2.2). Counted."""
        for attempt in (1, 2):
            try:
                if kind == "search":
                    query = {"query": "lighthouse keeper", "collections": [self.collection]}
                    return http.post("/v1/search", json=query)
                return http.get("/health/ready")
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # Closed, or reset, before any byte of an answer: both ways nginx drops an idle one.
                unanswered = "without sending a response" in str(exc) or "reset by peer" in str(exc)
                if attempt == 2 or not unanswered:
                    raise
                with self._lock:
                    self.resent += 1
        raise AssertionError("unreachable")

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            self._answered.notify_all()

    def wait_answers(self, count: int, timeout: float = 60.0) -> None:
        """Block until ``count`` more requests have an outcome than now: a test waits for the
        samples it needs, not for a fixed time that is too long when fast and too short when slow."""
        with self._answered:
            target = len(self.outcomes) + count
            if not self._answered.wait_for(lambda: len(self.outcomes) >= target, timeout):
                raise TimeoutError(f"{len(self.outcomes)} outcomes after {timeout} s, waited for {target}")

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def p95_ms(self) -> float:
        times = sorted(o.seconds for o in self.outcomes)
        return 1000 * times[min(len(times) - 1, int(0.95 * len(times)))] if times else 0.0

    def summary(self) -> str:
        by_color: dict[str, int] = {}
        for o in self.outcomes:
            by_color[o.color or "-"] = by_color.get(o.color or "-", 0) + 1
        colors = ", ".join(f"{c} {n}" for c, n in sorted(by_color.items()))
        return (
            f"{len(self.outcomes)} requests, {len(self.failed())} failed ({self.resent} resent on a"
            f" closed keep-alive connection), p95 {self.p95_ms():.1f} ms; "
            f"answered by: {colors}"
        )
