"""Fixtures: a real PostgreSQL (the embedded one, or DOCRAG_TEST_DATABASE_URL's server),
a fresh database per test module, the real model, and a real HTTP server on loopback."""

from __future__ import annotations

import base64
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from docrag.api.app import create_app
from docrag.identity.tokens import new_private_pem
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.roles import with_user

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

CI_REDIS = ("127.0.0.1", 6379)  # the Redis the cache and rate-limit tests use

# Every module's tests share one admin key and one client address (127.0.0.1), so the production
# limits (settings.py) would throttle them; the limiter still runs on every request at these. The
# rate-limit tests (tests/test_rate_limits*.py) pass their own limits.
_GENEROUS = "100000/minute"
os.environ.setdefault(
    "DOCRAG_RATE_LIMITS", ",".join(f"{c}={_GENEROUS}" for c in ("login", "ask", "search", "upload", "other"))
)
os.environ.setdefault(
    "DOCRAG_TENANT_RATE_LIMITS", ",".join(f"{c}={_GENEROUS}" for c in ("ask", "search", "upload", "other"))
)
os.environ.setdefault("DOCRAG_IP_RATE_LIMITS", f"login={_GENEROUS},auth_failure={_GENEROUS}")
# One master key (docs/encryption.md) for every runtime and child process of the run: a worker
# process must unwrap the data keys that the test's runtime wrapped.
os.environ.setdefault(
    "DOCRAG_MASTER_KEY", "test:" + base64.b64encode(b"docrag-test-master-key-32-bytes!").decode()
)
# Likewise one key store (docs/encryption.md, store/keystore.py) for every runtime and child process
# of this run, in a temporary folder rather than ./data/keystore; removed when the run ends.
if "DOCRAG_KEY_STORE_DIR" not in os.environ:
    _KEY_STORE = tempfile.TemporaryDirectory(prefix="docrag-test-keystore-")
    os.environ["DOCRAG_KEY_STORE_DIR"] = _KEY_STORE.name
# Likewise the lockout of failed logins (docs/auth.md): schemathesis tries many; tests/test_auth.py
# passes its own.
os.environ.setdefault("DOCRAG_LOGIN_LOCKOUT", _GENEROUS)
os.environ.setdefault("DOCRAG_LOGIN_SLOWDOWN_SECONDS", "0")
# One JWT signing key for the session's runtimes, so that none makes one in ./data (tests of the
# keys themselves pass their own).
os.environ.setdefault("DOCRAG_JWT_SIGNING_KEY", new_private_pem().decode())


def pytest_sessionstart(session: pytest.Session) -> None:
    """With CI=true, what tests would otherwise skip on must be there: fail loudly instead."""
    if os.environ.get("CI", "").lower() != "true":
        return
    if not (SHARED_DATA / "docs").is_dir():
        raise pytest.UsageError(f"CI=true but the evaluation data {SHARED_DATA / 'docs'} is missing")
    try:
        socket.create_connection(CI_REDIS, timeout=2).close()
    except OSError as exc:
        host, port = CI_REDIS
        raise pytest.UsageError(f"CI=true but Redis at {host}:{port} is unreachable: {exc}") from exc


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """A PostgreSQL server with pgvector: DOCRAG_TEST_DATABASE_URL's, or an embedded one."""
    external = os.environ.get("DOCRAG_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's basetemp: a concurrent pytest run prunes all but the 3 newest basetemps, and
    # deleting a live server's data directory under it killed every later test of this session.
    with tempfile.TemporaryDirectory(prefix="docrag-test-pg-") as folder:
        server = EmbeddedPostgres(Path(folder))
        server.start()
        yield server.url("postgres")
        server.stop()


def _with_database(admin: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


@pytest.fixture(scope="module")
def database_url(admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test module, dropped afterwards."""
    name = f"docrag_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


SERVICE_ROLE = "docrag_test_app"  # the module runtimes' role: owns nothing, bound by row security


@pytest.fixture(scope="session")
def service_role(admin_url: str) -> str | None:
    """On the embedded test server, a login role that is neither superuser, owner nor BYPASSRLS
    (store/roles.py); None on DOCRAG_TEST_DATABASE_URL's server, whose roles are its operator's."""
    if os.environ.get("DOCRAG_TEST_DATABASE_URL"):
        return None
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SERVICE_ROLE,)).fetchone() is None:
            conn.execute(f'CREATE ROLE "{SERVICE_ROLE}" LOGIN')
    return SERVICE_ROLE


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    """The module's runtime migrates as the database's owner (the fixture's superuser) and
    serves as the service role, as a deployment with DOCRAG_DATABASE_OWNER_URL does."""
    if service_role is None:
        return Settings(database_url=database_url, pool_max_size=8)
    return Settings(
        database_url=with_user(database_url, service_role), database_owner_url=database_url, pool_max_size=8
    )


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def admin_key(runtime: Runtime) -> str:
    """The bootstrap admin key of the default tenant, created on the module's first start."""
    assert runtime.bootstrap_key is not None
    return runtime.bootstrap_key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(runtime: Runtime, settings: Settings) -> Iterator[str]:
    """A real uvicorn server on loopback serving the app over the module's runtime."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, runtime=runtime), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(base_url: str, admin_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def anon(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c
