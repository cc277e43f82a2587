"""`docrag serve` with DOCRAG_LOG_FORMAT=json, its stderr in a file: one JSON access line per
request with the agreed fields, and no key, token, question or document text anywhere in the log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from docrag.observability.logs import RequestContext, formatter
from docrag.settings import Settings
from http_servers import free_port as _port

FIELDS = {"time", "level", "request_id", "tenant", "route", "status", "duration_ms"}


def test_a_full_flow_logs_json_and_no_secrets(settings: Settings, admin_key: str, tmp_path: Path) -> None:
    canary = f"zebracanary{uuid.uuid4().hex[:12]}"
    question = f"Which colour is the {canary} quartzwhistle lantern?"
    bad_key = "drg_" + uuid.uuid4().hex
    port = _port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        # As the module's runtime: the service role, migrations as the owner.
        "DOCRAG_DATABASE_URL": settings.database_url or "",
        **({"DOCRAG_DATABASE_OWNER_URL": settings.database_owner_url} if settings.database_owner_url else {}),
        "DOCRAG_DATA_DIR": str(tmp_path / "data"),
        "DOCRAG_LOG_FORMAT": "json",
        "DOCRAG_POOL_MAX_SIZE": "4",
    }
    with log.open("w") as err, (tmp_path / "stdout").open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=err,
            env=env,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "docrag serve did not start"
            time.sleep(0.3)
        auth = {"Authorization": f"Bearer {admin_key}", "X-Request-ID": "flow-1"}
        with httpx.Client(base_url=url, headers=auth, timeout=120) as c:
            text = f"The {canary} quartzwhistle lantern is painted deep green.\n".encode()
            up = c.post(
                "/v1/collections/logs/documents",
                params={"wait": "true"},
                files={"file": ("canary.txt", text, "text/plain")},
            )
            assert up.status_code == 201, up.text
            assert c.post("/v1/ask", json={"question": question, "collections": ["logs"]}).status_code == 200
            assert c.post("/v1/search", json={"query": question, "collections": ["logs"]}).status_code == 200
        refused = httpx.get(f"{url}/v1/collections", headers={"Authorization": f"Bearer {bad_key}"})
        assert refused.status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=60)

    content = log.read_text()
    for secret in (admin_key, bad_key, canary, question):
        assert secret not in content, f"{secret[:12]}… leaked into the log"
    records = [json.loads(line) for line in content.splitlines() if line.strip()]
    access = [r for r in records if r.get("logger") == "docrag.access"]
    routes = {r["route"]: r for r in access}
    upload = routes["/v1/collections/{name}/documents"]
    assert upload.keys() >= FIELDS
    assert upload["status"] == 201 and upload["request_id"] == "flow-1" and upload["level"] == "INFO"
    assert upload["tenant"] and upload["duration_ms"] > 0
    assert routes["/v1/ask"]["status"] == 200 and routes["/v1/search"]["status"] == 200
    assert routes["/v1/collections"]["status"] == 401 and routes["/v1/collections"]["tenant"] is None


def test_secrets_in_messages_are_masked() -> None:
    import logging

    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "bad key %s from %s", ("drg_abc-123", "Bearer t0k"), None
    )
    assert RequestContext().filter(record)
    line = formatter("json").format(record)
    assert "drg_abc" not in line and "t0k" not in line and "[redacted]" in json.loads(line)["message"]
