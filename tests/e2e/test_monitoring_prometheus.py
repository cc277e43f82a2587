"""A real Prometheus (the Debian `prometheus` binary, on loopback) over a real DocRAG server:
every Grafana panel's PromQL parses, the DocRAG target is up, and a forced fault (the only worker
stopped with a job queued) takes DocRAGNoWorkerHeartbeat to firing. The rules are the shipped
ones with every `for:` shortened to 1 s (expressions and thresholds unchanged), so the test waits
seconds, not minutes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api_calls import upload
from docrag.services import Runtime
from docrag.settings import Settings
from paths import ROOT

MONITORING = ROOT / "deploy" / "monitoring"
DASHBOARDS = MONITORING / "grafana" / "dashboards"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    # No in-process worker: the test runs (and stops) the only one; lease 3 s, a beat a second.
    # conftest's settings (the service role under row security), with:
    return settings.model_copy(
        update={"pool_max_size": 4, "inprocess_worker": False, "job_lease_seconds": 3.0}
    )


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("the prometheus binary is missing (apt-get install prometheus, as .ci/run does)")
    work = tmp_path_factory.mktemp("prometheus")
    rules = yaml.safe_load((MONITORING / "prometheus-rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "1s"
    (work / "rules.yml").write_text(yaml.safe_dump(rules))
    target = base_url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yml")],
        "scrape_configs": [{"job_name": "docrag", "static_configs": [{"targets": [target]}]}],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = _port()
    with (work / "log").open("w") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(url), 30, "prometheus did not become ready", proc, work)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _until(check: Any, seconds: float, message: str, proc: Any = None, work: Path | None = None) -> float:
    started = time.monotonic()
    while not check():
        if proc is not None and proc.poll() is not None and work is not None:
            pytest.fail(f"prometheus exited: {(work / 'log').read_text()[-2000:]}")
        assert time.monotonic() - started < seconds, message
        time.sleep(0.25)
    return time.monotonic() - started


def _query(prometheus: str, expr: str) -> httpx.Response:
    return httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)


def _panel_exprs() -> list[str]:
    exprs = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            exprs.extend(t["expr"] for t in panel.get("targets", ()))
    return exprs


def test_every_panel_expression_parses(prometheus: str) -> None:
    exprs = _panel_exprs()
    assert len(exprs) >= 25
    # The check can fail: Prometheus answers a parse error with 400 bad_data.
    assert _query(prometheus, "sum by (route (docrag_http_requests_total)").status_code == 400
    bad = {e: r.text for e in exprs if (r := _query(prometheus, e)).status_code != 200}
    assert not bad, bad


def _firing(prometheus: str, name: str) -> bool:
    alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in alerts)


def _scalar(prometheus: str, expr: str) -> float | None:
    result = _query(prometheus, expr).json()["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_target_up_and_a_stopped_worker_fires_the_heartbeat_alert(
    prometheus: str, runtime: Runtime, client: httpx.Client
) -> None:
    _until(lambda: _scalar(prometheus, 'up{job="docrag"}') == 1, 20, "the DocRAG target is not up")
    worker = runtime.worker()
    worker.start()
    try:
        _until(lambda: (_scalar(prometheus, "max(docrag_workers_live)") or 0) >= 1, 20, "no live worker seen")
        _until(lambda: not _firing(prometheus, "DocRAGNoWorkerHeartbeat"), 20, "the alert did not resolve")
    finally:
        worker.stop()
        assert worker.join(30)
    # The fault: no worker, and a job waiting.
    stopped = time.monotonic()
    queued = upload(client, "monitoring", "note.txt", b"Queued while no worker runs.\n", wait=False)
    assert queued.status_code == 202, queued.text
    detected = _until(lambda: _firing(prometheus, "DocRAGNoWorkerHeartbeat"), 30, "the alert never fired")
    # The alert reads the heartbeat alone; the queue's gauge shows the job at the scrape after its
    # cached reading expires, which on a busy machine can come after the alert fired.
    _until(
        lambda: (_scalar(prometheus, "max(docrag_queue_depth)") or 0) >= 1, 30, "the waiting job never showed"
    )
    print(f"\nDocRAGNoWorkerHeartbeat firing {time.monotonic() - stopped:.1f} s after the worker stopped")
    assert detected < 30
