"""scripts/integration-check.sh against a real DocRAG on loopback: every item of
docs/integration-checklist.md passes on a healthy server (backup and verify included, as the
database's owner), and the table shows FAIL, with a non-zero exit, for a server that is not there
and for a key that may not write."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from paths import ROOT

SCRIPT = ROOT / "scripts" / "integration-check.sh"
API_ROWS = ["health live", "health ready", "health components", "metrics", "security headers",
            "auth required", "upload (wait)", "search", "ask with citations", "delete"]  # fmt: skip


def run_check(
    url: str, key: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    environment = {
        **os.environ,
        **(env or {}),
        "DOCRAG_API_KEY": key,
        "DOCRAG": str(Path(sys.executable).with_name("docrag")),
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), url, *args],
        capture_output=True,
        text=True,
        timeout=500,
        check=False,
        env=environment,
    )
    rows = {
        m["name"].strip(): m["status"]
        for m in re.finditer(r"^(?P<name>.{22}) (?P<status>PASS|FAIL|SKIP) ", done.stdout, re.M)
    }
    return done.returncode, rows, done.stdout + done.stderr


def test_every_check_passes_against_a_running_server(
    base_url: str, admin_key: str, settings: Settings, client: httpx.Client, tmp_path: Path
) -> None:
    owner_env = {"DOCRAG_DATABASE_URL": settings.database_url or ""}
    if settings.database_owner_url:
        owner_env["DOCRAG_DATABASE_OWNER_URL"] = settings.database_owner_url
    rc, rows, out = run_check(base_url, admin_key, "--backup-dir", str(tmp_path / "backups"), env=owner_env)
    assert rc == 0, out
    for name in [*API_ROWS, "backup", "backup verify"]:
        assert rows.get(name) == "PASS", out
    ci = os.environ.get("CI", "").lower() == "true"  # .ci/run installs promtool and the deploy tools
    assert rows["alert rules"] == ("PASS" if ci or shutil.which("promtool") else "SKIP"), out
    assert rows["deploy validation"] in (("PASS",) if ci else ("PASS", "SKIP")), out
    assert re.search(
        rf"integration check of {base_url}: {len(rows) - list(rows.values()).count('SKIP')}/", out
    )
    assert list((tmp_path / "backups").iterdir()), "the backup row wrote no backup"
    # The scratch collection is gone again.
    names = [c["name"] for c in client.get("/v1/collections").json()]
    assert not [n for n in names if n.startswith("integration-check-")]


def test_a_server_that_is_not_there_fails_every_api_check(admin_key: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    rc, rows, out = run_check(dead, admin_key)
    assert rc == 1, out
    assert all(rows[name] == "FAIL" for name in API_ROWS), out
    assert rows["backup"] == "SKIP" and "FAILED" in out


def test_a_key_that_may_not_write_fails_the_upload(base_url: str, runtime: Runtime) -> None:
    reader = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, "integration-reader", reader, "reader")
    rc, rows, out = run_check(base_url, reader)
    assert rc == 1, out
    assert rows["health live"] == "PASS" and rows["auth required"] == "PASS"
    assert rows["upload (wait)"] == "FAIL" and "HTTP 403" in out
    assert rows["search"] == "FAIL" and rows["delete"] == "FAIL"
