"""`docrag serve --workers 2`: two API processes on one port over one database answer uploads and
searches, and a SIGTERM stops them all cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

from docrag.settings import Settings
from http_servers import free_port


def test_two_api_processes_serve_and_stop_cleanly(settings: Settings, admin_key: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": settings.database_url or "",
        **({"DOCRAG_DATABASE_OWNER_URL": settings.database_owner_url} if settings.database_owner_url else {}),
        "DOCRAG_DATA_DIR": str(tmp_path / "data"),
        "DOCRAG_POOL_MAX_SIZE": "4",
    }
    log = tmp_path / "server.log"
    with log.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", "serve", "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        parent = psutil.Process(server.pid)
        deadline = time.monotonic() + 180
        ready = 0
        while ready < 10:  # ten in a row: whichever process takes the connection is ready
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "docrag serve --workers 2 did not become ready"
            try:
                ok = httpx.get(f"{url}/health/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                ok = False
            ready = ready + 1 if ok else 0
            time.sleep(0.2)
        api_processes = [p for p in parent.children(recursive=True) if "python" in p.name().lower()]
        assert len(api_processes) >= 2, [p.cmdline() for p in api_processes]

        auth = {"Authorization": f"Bearer {admin_key}"}
        text = b"The lighthouse keeper logs every passing tanker in a green ledger.\n"
        with httpx.Client(base_url=url, headers=auth, timeout=120) as c:
            up = c.post(
                "/v1/collections/workers/documents",
                params={"wait": "true"},
                files={"file": ("ledger.txt", text, "text/plain")},
            )
            assert up.status_code == 201, up.text
        for n in range(20):  # a connection each: the processes take them in turn as they accept
            r = httpx.post(
                f"{url}/v1/search",
                json={"query": f"who logs the tankers ({n})", "collections": ["workers"]},
                headers=auth,
                timeout=60,
            )
            assert r.status_code == 200, r.text
            assert "green ledger" in r.json()["hits"][0]["text"]
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=90)
    assert rc == 0, log.read_text()[-3000:]
    # Each API process's own helpers (the parse sandbox's forkserver) exit when it closes their pipe,
    # a moment after it: they are given seconds to go, and none may stay.
    _, alive = psutil.wait_procs(api_processes, timeout=20)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
