"""What erasure tests look for: unique canary strings in documents, and every row of the
database and every key of Redis that still holds one; a Redis of our own that can be paused."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis
from psycopg import sql

from ci_strict import require_binary

REDIS_URL = "redis://127.0.0.1:6379/0"


def canary() -> str:
    return f"ZQ{uuid.uuid4().int % 10**10:010d}X"


def registry(name: str, secret: str) -> bytes:
    return (
        f"# Citizen registry of {name}\n\n"
        f"The national identity number of {name} is {secret}. "
        f"{name} registered at the harbour office of Tovermark in the spring.\n\n"
        "## Office hours\n\nThe harbour office opens at nine in the morning on weekdays.\n"
    ).encode()


def rows_holding(database_url: str, needle: str) -> dict[str, int]:
    """Every table of the database (read as its owner, past row security) with rows holding ``needle``."""
    found: dict[str, int] = {}
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            query = sql.SQL("SELECT count(*) FROM {}.{} t WHERE strpos(t::text, %s) > 0").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            row = conn.execute(query, (needle,)).fetchone()
            if row and row[0]:
                found[f"{schema}.{table}"] = int(row[0])
    return found


def redis_keys_holding(needle: str) -> list[str]:
    """Every key of the Redis (any prefix, any type) whose name or value holds ``needle``."""
    client = redis.Redis.from_url(REDIS_URL)
    hits = []
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            if kind == "string":
                values = [client.get(key) or b""]
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "hash":
                values = [*client.hkeys(key), *client.hvals(key)]
            elif kind == "list":
                values = list(client.lrange(key, 0, -1))
            elif kind == "zset":
                values = list(client.zrange(key, 0, -1))
            else:
                values = []
            if needle.encode() in key or any(needle.encode() in v for v in values):
                hits.append(key.decode(errors="replace"))
    finally:
        client.close()
    return hits


@pytest.fixture
def paused_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of our own on a free loopback port (so it can be paused with SIGSTOP)."""
    binary = require_binary("redis-server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield proc, url
    proc.send_signal(signal.SIGCONT)
    proc.terminate()
    proc.wait(timeout=10)
