"""The ``docrag`` command line run as a real subprocess against a test's database: one command
(:func:`run_cli`), or ``docrag serve`` with JSON logs on stderr (:func:`json_logged_server`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from docrag.settings import Settings
from http_servers import free_port


def run_cli(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_DATA_DIR": str(cwd / "data"),
        "PYTHONWARNINGS": "error::DeprecationWarning:docrag",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "docrag.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def json_logged_env(settings: Settings, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``docrag serve`` child over the module's database as its runtime uses
    it (the service role, migrations as the owner), logging JSON (DOCRAG_LOG_FORMAT=json); ``extra``
    variables are added or replace these."""
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": settings.database_url or "",
        "DOCRAG_DATA_DIR": str(data_dir),
        "DOCRAG_POOL_MAX_SIZE": "4",
        "DOCRAG_LOG_FORMAT": "json",
    }
    if settings.database_owner_url:
        env["DOCRAG_DATABASE_OWNER_URL"] = settings.database_owner_url
    return {**env, **extra}


@contextmanager
def json_logged_server(env: dict[str, str], log: Path, *, timeout: float = 90) -> Iterator[str]:
    """``docrag serve`` on a free port with ``env``, its stderr (the JSON log) in ``log``: its URL
    once /health/live answers; stopped (SIGTERM, waited for) when the block ends."""
    port = free_port()
    with log.open("w") as err, log.with_suffix(".stdout").open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=err,
            env=env,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "docrag serve did not start"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)
