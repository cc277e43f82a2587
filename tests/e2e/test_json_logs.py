"""`docrag serve` with DOCRAG_LOG_FORMAT=json, its stderr in a file: one JSON access line per
request with the agreed fields, and no key, token, question or document text anywhere in the log."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from cli_runs import json_logged_env, json_logged_server
from docrag.observability.logs import RequestContext, formatter
from docrag.settings import Settings

FIELDS = {"time", "level", "request_id", "tenant", "route", "status", "duration_ms"}


def test_a_full_flow_logs_json_and_no_secrets(settings: Settings, admin_key: str, tmp_path: Path) -> None:
    canary = f"zebracanary{uuid.uuid4().hex[:12]}"
    question = f"Which colour is the {canary} quartzwhistle lantern?"
    bad_key = "drg_" + uuid.uuid4().hex
    log = tmp_path / "server.log"
    with json_logged_server(json_logged_env(settings, tmp_path / "data"), log) as url:
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
