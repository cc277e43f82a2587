"""What metrics and JSON access logging add to /v1/search (and /v1/ask) p95 latency.

    python bench/observability_overhead.py --docs 300 --requests 600 --ask

Two runtimes over one fresh database (embedded PostgreSQL, SciFact documents from ../shared),
each behind its own real uvicorn server on loopback, in this one process: "on" with the
defaults (DOCRAG_METRICS=true, DOCRAG_ACCESS_LOG=true, DOCRAG_LOG_FORMAT=json, lines written to a
file) and "off" (DOCRAG_METRICS=false, DOCRAG_ACCESS_LOG=false). After a warm-up of each, every
question goes to both sides back to back, in alternating order, so drift in the machine's load
falls on both alike. No answer cache. Prints each side's p50/p95 and the p95 overhead (target: at
most 3%), and the instrumentation's own cost per request timed directly in a loop, which is the
stable figure where the p95 difference is within the machine's noise. Tracing
(DOCRAG_OTLP_ENDPOINT) is off on both sides.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from docrag.api.app import create_app
from docrag.ingest.pipeline import Upload
from docrag.observability.logs import configure_logging
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(settings: Settings, runtime: Runtime) -> str:
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, runtime=runtime), port=port, log_level="warning", log_config=None)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}"


def _timed(client: httpx.Client, path: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    response = client.post(path, json=body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def _instrumentation_cost(n: int = 20000) -> float:
    """Microseconds of what the "on" side does per search beyond the "off" side, timed in a loop."""
    from docrag.instruments import model_seconds
    from docrag.observability.http_metrics import http_metrics

    metrics, access = http_metrics(), logging.getLogger("docrag.access")
    fields = {"request_id": "r", "tenant": None, "route": "/v1/search", "method": "POST", "status": 200}
    started = time.perf_counter()
    for _ in range(n):
        metrics.observe("/v1/search", "POST", 200, 0.02)
        access.info("%s %s %s", "POST", "/v1/search", 200, extra={**fields, "duration_ms": 20.0})
        for _ in range(2):
            model_seconds().labels("embedder", "bench", "embed_batch").observe(0.005)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=300, help="SciFact documents to ingest")
    parser.add_argument("--requests", type=int, default=600, help="requests per side and endpoint")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--ask", action="store_true", help="also measure /v1/ask (slower)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="docrag-obs-bench-"))
    log_file = (folder / "access.log").open("w")
    configure_logging("json")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)  # a log pipeline's file, not this terminal

    base = Settings(data_dir=folder / "data", answer_cache_seconds=0, inprocess_worker=False)
    on_settings = base.model_copy(update={"metrics": True, "access_log": True, "log_format": "json"})
    on = Runtime.open(on_settings)
    # The same data directory: the second runtime joins the embedded server the first started.
    off_settings = base.model_copy(update={"metrics": False, "access_log": False})
    off = Runtime.open(off_settings)
    try:
        lines = (SCIFACT / "corpus.jsonl").read_text().splitlines()[: args.docs]
        uploads = [
            Upload(f"{d['title']}\n\n{d['text']}".encode(), f"{d['_id']}.txt", d["title"])
            for d in map(json.loads, lines)
        ]
        collection = on.collection(on.default_tenant, "bench", create=True)
        started = time.perf_counter()
        on.ingest_now.ingest_many(collection, uploads)
        print(f"ingested {len(uploads)} documents in {time.perf_counter() - started:.1f} s")
        queries = [json.loads(q)["text"] for q in (SCIFACT / "queries.jsonl").read_text().splitlines()]

        key = new_api_key()
        on.store.add_api_key(on.default_tenant, "bench", key, "reader")
        auth = {"Authorization": f"Bearer {key}"}
        urls = {"on": _serve(on_settings, on), "off": _serve(off_settings, off)}
        clients = {name: httpx.Client(base_url=url, headers=auth, timeout=120) for name, url in urls.items()}
        endpoints = [("search", "/v1/search", "query")] + (
            [("ask", "/v1/ask", "question")] if args.ask else []
        )
        for label, path, field in endpoints:

            def body(q: str, field: str = field) -> dict[str, object]:
                return {field: q, "collections": ["bench"]}

            for client in clients.values():
                for q in queries[: args.warmup]:
                    _timed(client, path, body(q))
            found: dict[str, list[float]] = {"on": [], "off": []}
            for i in range(args.requests):
                # Each question goes to both sides back to back, in alternating order.
                q = queries[i % len(queries)]
                for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    found[name].append(_timed(clients[name], path, body(q)))
            p = {
                name: (np.percentile(v, 50) * 1000, np.percentile(v, 95) * 1000) for name, v in found.items()
            }
            overhead = 100.0 * (p["on"][1] - p["off"][1]) / p["off"][1]
            print(
                f"{label}: n={args.requests} per side; on p50 {p['on'][0]:.2f} ms p95 {p['on'][1]:.2f} ms;"
                f" off p50 {p['off'][0]:.2f} ms p95 {p['off'][1]:.2f} ms; p95 overhead {overhead:+.1f}%"
                f" (target <= 3%)"
            )
        cost = _instrumentation_cost()
        print(
            f"instrumentation per request, measured directly: {cost:.1f} us"
            " (HTTP metrics, the JSON access line, two model-call observations)"
        )
        for client in clients.values():
            client.close()
    finally:
        off.close()
        on.close()
        log_file.close()


if __name__ == "__main__":
    main()
