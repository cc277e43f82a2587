"""`docrag serve` keeps an idle connection open for DOCRAG_KEEP_ALIVE_SECONDS, and closes it
after: a real server, one HTTP/1.1 connection. The default outlasts the usual proxies' idle timeout
(60 s), so the server is never the side that closes a connection a proxy is about to reuse. Kept
connections are descriptors: the server raises its open-file limit to the hard one."""

from __future__ import annotations

import http.client
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]

from cli_runs import json_logged_env, json_logged_server
from docrag.settings import Settings


def _answered(conn: http.client.HTTPConnection) -> bool:
    """Whether a request on the connection's same socket gets a 200 (False: the server had closed
    it, and the request was lost as the soak's two were)."""
    try:
        conn.request("GET", "/health/live")
        response = conn.getresponse()
        response.read()
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        return False
    return response.status == 200 and not response.will_close


@contextmanager
def _open_files_soft_limit(limit: int) -> Iterator[int]:
    """This process's soft open-file limit lowered to ``limit`` (children inherit it); yields the
    hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_idle_connection_lives_as_configured(settings: Settings, tmp_path: Path) -> None:
    assert Settings().keep_alive_seconds > 60
    env = json_logged_env(settings, tmp_path / "data", DOCRAG_KEEP_ALIVE_SECONDS="2")
    with _open_files_soft_limit(512) as hard, json_logged_server(env, tmp_path / "server.log") as url:
        address = urlsplit(url)
        listening = psutil.net_connections("tcp")
        (pid,) = {c.pid for c in listening if c.laddr and c.laddr.port == address.port and c.pid}
        assert psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE) == (hard, hard)
        conn = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
        try:
            assert _answered(conn)
            time.sleep(1)  # idle for less than the setting: the same connection answers
            assert _answered(conn)
            time.sleep(3.5)  # idle past it (uvicorn's own default, 5 s, would still answer)
            assert not _answered(conn)
        finally:
            conn.close()
