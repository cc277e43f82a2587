"""Attack tests: huge and slow bodies against a real `docrag serve` process.

The server runs in its own process so its memory (RSS, sampled by psutil while each attack runs)
and its temporary folder (TMPDIR, where the multipart parser would spool) can be watched. The
bodies are streamed from generators: the test never holds them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from docrag.services import Runtime, new_api_key

MiB = 2**20
HUGE_UPLOAD = 1536 * MiB  # 1.5 GiB
HUGE_JSON = 400 * MiB
MAX_GROWTH = 50 * MiB


@dataclass
class Server:
    url: str
    process: psutil.Process
    tmp: Path
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(runtime: Runtime, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    keys = {role: new_api_key() for role in ("reader", "editor")}
    for role, key in keys.items():
        runtime.store.add_api_key(runtime.default_tenant, f"abuse {role}", key, role)
    tmp = tmp_path_factory.mktemp("server-tmp")
    port = _free_port()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_INPROCESS_WORKER": "false",
        "DOCRAG_BODY_IDLE_TIMEOUT_SECONDS": "1",
        "DOCRAG_BODY_TIMEOUT_SECONDS": "3",
    }
    cli = Path(sys.executable).with_name("docrag")
    proc = subprocess.Popen(
        [str(cli), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("docrag serve did not start")
        time.sleep(0.2)
    # Warm the paths the attacks take (auth, JSON errors) before measuring memory.
    for key in keys.values():
        httpx.get(f"{url}/v1/collections", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    yield Server(url, psutil.Process(proc.pid), tmp, keys)
    proc.terminate()
    proc.wait(timeout=30)


class PeakRss:
    """The process's largest resident set, and the most bytes in its temporary folder, while the
    block runs, sampled every 20 ms."""

    def __init__(self, process: psutil.Process, tmp: Path) -> None:
        self.process = process
        self.tmp = tmp
        self.baseline = process.memory_info().rss
        self.peak = self.baseline
        self.disk = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.disk = max(self.disk, _spooled_bytes(self.process.pid, self.tmp))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def multipart(total: int, boundary: str = "xyzzy") -> Iterator[bytes]:
    """A multipart body of about ``total`` bytes whose ``file`` part is text, 1 MiB at a time."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    chunk = b"All work and no play makes a very large upload. " * (MiB // 48)
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)
    yield f"\r\n--{boundary}--\r\n".encode()


def json_body(total: int) -> Iterator[bytes]:
    yield b'{"question": "'
    chunk = b"a" * MiB
    for _ in range(total // MiB):
        yield chunk
    yield b'", "collections": ["default"]}'


def _spooled(tmp: Path) -> list[Path]:
    return [p for p in tmp.rglob("*") if p.is_file()]


def _spooled_bytes(pid: int, tmp: Path) -> int:
    """Bytes in the files the process holds open under ``tmp``, named or not: Python's temporary
    files are unlinked at once (or made with O_TMPFILE), so only /proc/<pid>/fd shows them."""
    total = 0
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd).startswith(str(tmp)):
                total += fd.stat().st_size
        except OSError:  # closed since listed
            pass
    return total


def _attack(
    server: Server, path: str, body: Iterator[bytes], role: str | None, content_type: str, length: int | None
) -> tuple[httpx.Response, PeakRss]:
    headers = {"Content-Type": content_type}
    if role is not None:
        headers["Authorization"] = f"Bearer {server.keys[role]}"
    if length is not None:
        headers["Content-Length"] = str(length)
    with PeakRss(server.process, server.tmp) as rss:
        response = httpx.post(server.url + path, content=body, headers=headers, timeout=300)
    return response, rss


UPLOAD = "/v1/collections/default/documents"
FORM = "multipart/form-data; boundary=xyzzy"


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(None, 401, "unauthenticated"), ("reader", 403, "forbidden"), ("editor", 413, "file_too_large")],
)
def test_a_huge_upload_is_refused_without_memory_or_disk(
    server: Server, role: str | None, status: int, code: str
) -> None:
    # Chunked: no Content-Length to refuse it by, so only reading (or not reading) decides.
    response, rss = _attack(server, UPLOAD, multipart(HUGE_UPLOAD), role, FORM, None)
    print(
        f"\n1.5 GiB upload as {role}: {response.status_code}, RSS +{rss.growth / MiB:.1f} MiB,"
        f" temporary files at most {rss.disk / MiB:.1f} MiB"
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert rss.growth < MAX_GROWTH
    # Refused before the body: nothing spooled. An editor's upload is read up to the cap only.
    assert rss.disk <= (0 if role != "editor" else 50 * MiB + 64 * 1024)
    assert _spooled(server.tmp) == []


def test_a_declared_huge_upload_is_refused_before_its_body(server: Server) -> None:
    length = sum(len(part) for part in multipart(HUGE_UPLOAD))
    response, rss = _attack(server, UPLOAD, multipart(HUGE_UPLOAD), "editor", FORM, length)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert rss.growth < MAX_GROWTH
    assert rss.disk == 0
    assert _spooled(server.tmp) == []


@pytest.mark.parametrize(
    ("role", "status", "code"), [(None, 401, "unauthenticated"), ("reader", 413, "body_too_large")]
)
def test_a_huge_json_body_is_refused_without_memory(
    server: Server, role: str | None, status: int, code: str
) -> None:
    response, rss = _attack(server, "/v1/ask", json_body(HUGE_JSON), role, "application/json", None)
    print(f"\n400 MiB JSON as {role}: {response.status_code}, RSS +{rss.growth / MiB:.1f} MiB")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert rss.growth < MAX_GROWTH
    assert _spooled(server.tmp) == []


def _raw(server: Server, head: bytes) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(head)
    return sock


def _status_and_body(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        part = sock.recv(65536)
        if not part:
            break
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("trickle", [False, True])
def test_a_slow_body_times_out(server: Server, trickle: bool) -> None:
    head = (
        "POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {server.keys['reader']}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    started = time.monotonic()
    sock = _raw(server, head + b'{"question": "')
    with sock:
        if trickle:  # one byte every 0.3 s never stalls for a second, but takes 300 s
            sock.settimeout(0.3)
            status = 0
            for _ in range(100):
                try:
                    sock.sendall(b"a")
                    got = sock.recv(65536)
                except TimeoutError:
                    continue
                sock.settimeout(20)
                rest = got
                while not rest.rstrip().endswith(b"}"):
                    rest += sock.recv(65536)
                status, body = int(rest.split(b" ", 2)[1]), rest.partition(b"\r\n\r\n")[2]
                break
        else:
            status, body = _status_and_body(sock)
    took = time.monotonic() - started
    print(f"\nslow body (trickle={trickle}): {status} after {took:.1f} s")
    assert status == 408
    assert b"body_timeout" in body
    assert took < (6 if trickle else 4)
