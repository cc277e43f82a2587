"""Verified TLS to PostgreSQL and Redis when their URLs ask for it (issue 21.5, docs/encryption.md).

A certificate authority made here signs the servers' certificates (for 127.0.0.1 only); a real
PostgreSQL (Debian's binaries, ``ssl = on``, only ``hostssl`` lines in its pg_hba.conf) and a real
``redis-server --tls-port`` are started in a temporary folder and stopped at the end. DocRAG's
own connections (the owner's, the queue's LISTEN connection, pg_dump for backups, the Redis
answer cache) go through TLS with ``sslmode=verify-full&sslrootcert=...`` and
``rediss://...?ssl_cert_reqs=required&ssl_ca_certs=...``; a certificate authority the server's
certificate is not from, a host name the certificate does not name, and plain text are refused.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from ci_strict import require
from docrag.cache.tagged import RedisCache
from docrag.errors import Unavailable
from docrag.store.backup import libpq_args
from docrag.store.job_wakeups import CHANNEL, listen
from docrag.store.pgtools import Target
from pki import Authority, issue_server_cert, make_ca

_PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(what: str) -> None:
    require(False, f"{what} (.ci/run installs it)")


@dataclass(frozen=True)
class Pki:
    ca: Authority
    other_ca: Authority  # signs nothing the servers present
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "docrag-test-ca")
    other = make_ca(folder, "someone-elses-ca")
    cert, key = issue_server_cert(ca, folder, "server")
    return Pki(ca, other, cert, key)


@pytest.fixture(scope="module")
def postgres_port(pki: Pki) -> Iterator[int]:
    """A PostgreSQL with ssl on that accepts TLS connections only, on 127.0.0.1."""
    if not _PG_BINS:
        _missing("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    with tempfile.TemporaryDirectory(prefix="docrag-pg-tls-") as tmp:  # not under pytest's 0700 basetemp
        yield from _postgres(pki, Path(tmp))


def _postgres(pki: Pki, folder: Path) -> Iterator[int]:
    bins = _PG_BINS[-1].parent
    data = folder / "data"
    run_as: dict[str, int] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own system user runs it
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
    subprocess.run(
        [bins / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
        check=True, capture_output=True, **run_as,  # type: ignore[call-overload]
    )  # fmt: skip
    for name, src in (("server.crt", pki.cert), ("server.key", pki.key)):
        shutil.copy(src, data / name)
        if run_as:
            os.chown(data / name, run_as["user"], run_as["group"])
        (data / name).chmod(0o600)
    (data / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 trust\n")  # no plain 'host' line
    port = _port()
    options = f"-c ssl=on -c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder}"
    subprocess.run(
        [bins / "pg_ctl", "-D", data, "-w", "-t", "60", "-l", folder / "log", "-o", options, "start"],
        check=True, capture_output=True, **run_as,  # type: ignore[call-overload]
    )  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run(
            [bins / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
            check=False, capture_output=True, **run_as,  # type: ignore[call-overload]
        )  # fmt: skip


def pg_url(port: int, root: Path, *, host: str = "127.0.0.1", mode: str = "verify-full") -> str:
    return f"postgresql://postgres@{host}:{port}/postgres?sslmode={mode}&sslrootcert={root}"


def test_postgres_connections_are_verified_tls(pki: Pki, postgres_port: int) -> None:
    url = pg_url(postgres_port, pki.ca.pem)
    with Target(url, None).connect() as conn:  # as backups, restores and migrations connect
        row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None and row[0] is True and row[1].startswith("TLS")
    # The queue's wake-up listener, on its own connection from the same URL.
    woken = threading.Event()
    stop = threading.Event()
    thread = threading.Thread(target=listen, args=(url, stop, woken.set), kwargs={"timeout": 0.2})
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not woken.is_set() and time.monotonic() < deadline:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"NOTIFY {CHANNEL}")
            woken.wait(0.3)
        assert woken.is_set()
    finally:
        stop.set()
        thread.join(10)
    # pg_dump (docrag backup) gets the TLS settings with the connection string.
    dbname, env = libpq_args(url)
    dump = subprocess.run(
        [_PG_BINS[-1].parent / "pg_dump", "--schema-only", f"--dbname={dbname}"], env=env, capture_output=True
    )
    assert dump.returncode == 0, dump.stderr.decode()
    bad = libpq_args(pg_url(postgres_port, pki.other_ca.pem))[0]
    refused = subprocess.run(
        [_PG_BINS[-1].parent / "pg_dump", f"--dbname={bad}"], env=env, capture_output=True
    )
    assert refused.returncode != 0 and b"certificate verify failed" in refused.stderr


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"root": "other"}, "certificate verify failed"),  # signed by a CA we do not trust
        ({"host": "localhost"}, "does not match host name"),  # the certificate names 127.0.0.1 only
        ({"mode": "disable"}, "no pg_hba.conf entry"),  # plain text: the server takes TLS only
    ],
)
def test_postgres_refuses_what_it_cannot_verify(
    pki: Pki, postgres_port: int, change: dict[str, str], error: str
) -> None:
    root = pki.other_ca.pem if change.get("root") == "other" else pki.ca.pem
    url = pg_url(
        postgres_port, root, host=change.get("host", "127.0.0.1"), mode=change.get("mode", "verify-full")
    )
    with pytest.raises(Unavailable, match=error):
        Target(url, None).connect()


@pytest.fixture(scope="module")
def redis_tls_port(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server_bin = shutil.which("redis-server")
    if server_bin is None:
        _missing("redis-server")
    assert server_bin is not None
    folder = tmp_path_factory.mktemp("redis-tls")
    port = _port()
    args = [server_bin, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(pki.cert), "--tls-key-file", str(pki.key),
            "--tls-ca-cert-file", str(pki.ca.pem), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(folder)]  # fmt: skip
    log = (folder / "log").open("w")
    server = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        context = ssl.create_default_context(cafile=str(pki.ca.pem))
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, (folder / "log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                    context.wrap_socket(raw, server_hostname="127.0.0.1").close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server --tls-port did not start"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def redis_url(port: int, ca: Path) -> str:
    return f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"


def test_the_redis_cache_goes_over_verified_tls(pki: Pki, redis_tls_port: int) -> None:
    cache = RedisCache(redis_url(redis_tls_port, pki.ca.pem), ttl_seconds=60, prefix="tls-test:")
    cache.put("k", b"an answer", ["collection:x"])
    assert cache.get("k") == b"an answer" and cache.errors == 0
    assert cache.purge("collection:x") == 1 and cache.get("k") is None
    client = redis.Redis.from_url(redis_url(redis_tls_port, pki.ca.pem))
    try:
        assert client.connection_pool.connection_class is redis.SSLConnection
        assert client.ping() is True
    finally:
        client.close()


def test_redis_refuses_another_ca_and_plain_text(pki: Pki, redis_tls_port: int) -> None:
    cache = RedisCache(redis_url(redis_tls_port, pki.other_ca.pem), ttl_seconds=60, prefix="tls-test:")
    cache.put("k", b"an answer", ["collection:x"])  # refused: counted, not raised (a cache miss)
    assert cache.get("k") is None and cache.errors >= 1
    client = redis.Redis.from_url(redis_url(redis_tls_port, pki.other_ca.pem), socket_timeout=2)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        client.ping()
    plain = redis.Redis.from_url(f"redis://127.0.0.1:{redis_tls_port}/0", socket_timeout=2)
    with pytest.raises(redis.RedisError):
        plain.ping()
