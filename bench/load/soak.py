"""A soak: the mixed load of ``locustfile.py`` held for a long time, while the API process's memory,
open file descriptors, threads and database connections are sampled; prints each one's slope.

    # 30 minutes at about half of the capacity bench/load/run.py --capacity printed
    python bench/load/soak.py --data-dir /tmp/scale-100k --users 40 --think 2 --duration 1800

It starts ``docrag serve`` on the data dir (as run.py does) and locust in a child process, and
every ``--every`` seconds reads, of the server and its children: RSS (psutil), the bytes its
bounded in-memory answer and search cache holds (``docrag_cache_memory_bytes``; RSS less these
is the memory that must stay flat while the cache fills to its cap), open file
descriptors, threads, and this process's pool connections from its own ``/metrics``
(``docrag_db_pool_connections``, all states) together with the database server's count of
sessions (``pg_stat_activity``). The first ``--warmup`` share of the run is left out of the
slopes (caches fill, pools open). A flat service shows slopes near zero: the printed figure is
the least-squares slope per hour, and the change over the measured part in total. Then locust's
summary: p50/p95/p99 per request type, error rate, 5xx, throughput.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # a script beside this one
from run import locust, report, server

_POOL = re.compile(r'^docrag_db_pool_connections\{state="[a-z_]+"\} ([0-9.e+]+)$', re.M)
_CACHE = re.compile(r"^docrag_cache_memory_bytes(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _sample(pid: int, url: str) -> dict[str, float]:
    rss = fds = threads = 0.0
    for proc in _tree(pid):
        try:
            if proc.name() == "postgres":
                continue  # the database server, if the API process started it: not the API
            rss += proc.memory_info().rss
            fds += proc.num_fds()
            threads += proc.num_threads()
        except psutil.NoSuchProcess:
            continue
    scrape = httpx.get(f"{url}/metrics", timeout=30).text
    pool = sum(float(v) for v in _POOL.findall(scrape))
    cache_mb = sum(float(v) for v in _CACHE.findall(scrape)) / 2**20
    return {
        "rss_mb": rss / 2**20,
        "cache_mb": cache_mb,
        "rss_less_cache_mb": rss / 2**20 - cache_mb,
        "open_fds": fds,
        "threads": threads,
        "pool_connections": pool,
    }


def _postgres_sessions(data_dir: Path) -> float:
    """Client backends of the PostgreSQL serving ``data_dir`` (a process title names its client:
    an address or ``[local]``), whoever opened them."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or []):
            titles = [" ".join(c.cmdline()) for c in proc.children()]
            return float(sum("(" in t or "[local]" in t for t in titles))
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a corpus made by bench/scale.py")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--think", type=float, default=2.0, help="mean think time, seconds")
    parser.add_argument("--duration", type=int, default=1800, help="seconds of load")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=0.15, help="share of the run left out")
    parser.add_argument("--locust", default=run.LOCUST[0], help="the locust executable")
    args = parser.parse_args()
    run.LOCUST[0] = args.locust
    # Stopped early (kill, or Ctrl-C even where a shell started it with SIGINT ignored): exit through
    # the context managers and exit hooks, so the server and locust stop too.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: sys.exit(130))
    samples: list[tuple[float, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp, server(args.data_dir, {}) as (url, key, pid):
        httpx.post(
            f"{url}/v1/collections", json={"name": "load-uploads"}, headers={"Authorization": f"Bearer {key}"}
        )
        out = Path(tmp) / "soak"
        rows: list[dict[str, str]] = []
        load = threading.Thread(
            target=lambda: rows.extend(locust(url, key, args.users, args.duration, args.think, [], out)),
            daemon=True,  # Ctrl-C ends the soak at once; run.locust's exit hook stops locust
        )
        start = time.monotonic()
        load.start()
        while load.is_alive():
            values = _sample(pid, url)
            values["postgres_sessions"] = _postgres_sessions(args.data_dir)
            samples.append((time.monotonic() - start, values))
            load.join(timeout=args.every)
        print(f"soak: {args.users} users, think {args.think} s, {args.duration} s, {len(samples)} samples")
        measured = [(t, v) for t, v in samples if t >= args.warmup * args.duration]
        times = np.array([t for t, _ in measured])
        print(f"{'resource':<20}{'first':>10}{'last':>10}{'max':>10}{'slope/h':>12}{'change':>10}")
        for name in samples[0][1]:
            series = np.array([v[name] for _, v in measured])
            slope = float(np.polyfit(times, series, 1)[0]) * 3600 if len(measured) > 1 else 0.0
            fitted_change = slope * (times[-1] - times[0]) / 3600 if len(measured) > 1 else 0.0
            print(
                f"{name:<20}{series[0]:>10.1f}{series[-1]:>10.1f}{series.max():>10.1f}"
                f"{slope:>12.2f}{fitted_change:>10.2f}"
            )
        report(rows, out, args.duration)


if __name__ == "__main__":
    main()
