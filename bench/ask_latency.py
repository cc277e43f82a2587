"""Latency of /v1/ask (and /v1/search) over HTTP against a collection that is already ingested.

    python bench/ask_latency.py --data-dir /tmp/sf/data --collection eval-scifact \
        --queries ../shared/data/scifact/queries.jsonl --n 300 --concurrency 1

Starts a real uvicorn server on loopback over the given data (embedded PostgreSQL or
DOCRAG_DATABASE_URL), creates a reader key, sends the queries, and prints p50/p95/p99.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from docrag.api.app import create_app
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    parser.add_argument("--collection", default="default")
    parser.add_argument("--queries", type=Path, required=True, help="BEIR queries.jsonl or a text file")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--endpoint", choices=["ask", "search"], default="ask")
    args = parser.parse_args()

    lines = [line for line in args.queries.read_text().splitlines() if line.strip()]
    queries = [json.loads(line)["text"] if line.startswith("{") else line for line in lines][: args.n]

    # No answer cache: every ask is computed, as a first-time question is.
    # No rate limits: the benchmark's one key asks as fast as it can (bench/auth_overhead.py measures them).
    settings = Settings(data_dir=args.data_dir, answer_cache_seconds=0, rate_limiting=False)
    runtime = Runtime.open(settings)
    key = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "bench", key, "reader")
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime=runtime), port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)

    url = f"http://127.0.0.1:{port}/v1/{args.endpoint}"
    field = "question" if args.endpoint == "ask" else "query"
    client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    client.post(url, json={field: "warm up", "collections": [args.collection]}).raise_for_status()

    def one(q: str) -> tuple[float, bool]:
        t0 = time.perf_counter()
        r = client.post(url, json={field: q, "collections": [args.collection]})
        r.raise_for_status()
        return time.perf_counter() - t0, bool(r.json().get("answered", True))

    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(one, queries))
    wall = time.perf_counter() - started
    ms = np.array([r[0] for r in results]) * 1000
    print(
        json.dumps(
            {
                "endpoint": args.endpoint,
                "queries": len(queries),
                "concurrency": args.concurrency,
                "chunks": runtime.store.count_chunks(runtime.default_tenant),
                "p50_ms": round(float(np.percentile(ms, 50)), 1),
                "p95_ms": round(float(np.percentile(ms, 95)), 1),
                "p99_ms": round(float(np.percentile(ms, 99)), 1),
                "mean_ms": round(statistics.fmean(ms), 1),
                "throughput_qps": round(len(queries) / wall, 1),
                "answered_share": round(sum(r[1] for r in results) / len(results), 3),
            },
            indent=2,
        )
    )
    server.should_exit = True
    client.close()
    runtime.close()


if __name__ == "__main__":
    main()
