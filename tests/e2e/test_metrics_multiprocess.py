"""/metrics under several uvicorn worker processes: with PROMETHEUS_MULTIPROC_DIR every scrape
reports the requests of all processes, whichever process answers it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from docrag.services import Runtime

REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _live_count(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "docrag_http_requests_total" and s.labels.get("route") == "/health/live"
    )


def test_two_uvicorn_workers_report_one_sum(runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    # ``runtime`` migrated the database already, so the two workers start on a ready schema.
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_INPROCESS_WORKER": "false",
        "DOCRAG_DATA_DIR": str(tmp_path / "data"),
        "DOCRAG_POOL_MAX_SIZE": "2",
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "docrag.api.app:create_app", "--workers", "2"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(argv, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "uvicorn exited"
            assert time.monotonic() < deadline, "uvicorn did not start"
            try:
                if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        for _ in range(REQUESTS):
            # A new connection each time, so the kernel spreads them over both processes.
            assert httpx.get(f"{base}/health/live", headers={"Connection": "close"}).status_code == 200
        writers = {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("counter_*.db")}
        assert len(writers) >= 2, f"one process served everything: {writers}"
        # Every scrape, whichever process answers it, sums both processes' counts.
        for _ in range(6):
            text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}).text
            assert _live_count(text) == REQUESTS
            assert "docrag_queue_depth" in text
    finally:
        server.terminate()
        server.wait(timeout=30)
