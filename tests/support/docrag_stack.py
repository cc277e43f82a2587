"""Fixtures (a pytest plugin, tests/support/docrag_stack.py): a real PostgreSQL (the embedded one, or
DOCRAG_TEST_DATABASE_URL's server), a fresh database per test module, the real model, and a real
HTTP server on loopback; or, for a module marked ``shared_server``, the session's one database,
runtime and server. Also the environment every runtime and child process of the run shares."""

from __future__ import annotations

import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from docrag.api.app import create_app
from docrag.identity.tokens import new_private_pem
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres
from docrag.store.roles import with_user
from http_servers import serve

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
# Likewise the lockout of failed logins (docs/auth.md): schemathesis tries many; tests/e2e/test_auth.py
# passes its own.
os.environ.setdefault("DOCRAG_LOGIN_LOCKOUT", _GENEROUS)
os.environ.setdefault("DOCRAG_LOGIN_SLOWDOWN_SECONDS", "0")
# One JWT signing key for the session's runtimes, so that none makes one in ./data (tests of the
# keys themselves pass their own).
os.environ.setdefault("DOCRAG_JWT_SIGNING_KEY", new_private_pem().decode())


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


def with_database(admin: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


@contextmanager
def fresh_database(admin: str) -> Iterator[str]:
    """A new, empty database on ``admin``'s server, dropped afterwards."""
    name = f"docrag_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield with_database(admin, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _shares(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting module is marked ``shared_server``."""
    return request.node.get_closest_marker("shared_server") is not None


@pytest.fixture(scope="session")
def shared_database_url(admin_url: str) -> Iterator[str]:
    """The database of the session's shared server (modules marked ``shared_server``)."""
    with fresh_database(admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def database_url(admin_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for one test module, dropped afterwards (the session's shared one
    for a module marked ``shared_server``)."""
    if _shares(request):
        yield request.getfixturevalue("shared_database_url")
        return
    with fresh_database(admin_url) as url:
        yield url


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


def service_settings(database_url: str, service_role: str | None) -> Settings:
    """Settings that migrate as the database's owner (the fixture's superuser) and serve as the
    service role, as a deployment with DOCRAG_DATABASE_OWNER_URL does."""
    if service_role is None:
        return Settings(database_url=database_url, pool_max_size=8)
    return Settings(
        database_url=with_user(database_url, service_role), database_owner_url=database_url, pool_max_size=8
    )


@pytest.fixture(scope="module")
def settings(database_url: str, service_role: str | None) -> Settings:
    """The module's settings (:func:`service_settings`); a module may override this fixture."""
    return service_settings(database_url, service_role)


@pytest.fixture(scope="session")
def shared_runtime(shared_database_url: str, service_role: str | None) -> Iterator[Runtime]:
    rt = Runtime.open(service_settings(shared_database_url, service_role))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def runtime(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    if _shares(request):
        shared: Runtime = request.getfixturevalue("shared_runtime")
        if settings != shared.settings:
            raise pytest.UsageError(
                f"{request.node.nodeid} has settings of its own: it can't share the server"
            )
        yield shared
        return
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def admin_key(runtime: Runtime) -> str:
    """The bootstrap admin key of the default tenant, created on the runtime's first start."""
    assert runtime.bootstrap_key is not None
    return runtime.bootstrap_key


@pytest.fixture(scope="session")
def shared_base_url(shared_runtime: Runtime) -> Iterator[str]:
    """The session's one server, for the modules marked ``shared_server``."""
    with serve(create_app(shared_runtime.settings, runtime=shared_runtime)) as url:
        yield url


@pytest.fixture(scope="module")
def base_url(runtime: Runtime, settings: Settings, request: pytest.FixtureRequest) -> Iterator[str]:
    """A real uvicorn server on loopback serving the app over the module's runtime (the session's
    shared server for a module marked ``shared_server``)."""
    if _shares(request):
        yield request.getfixturevalue("shared_base_url")
        return
    with serve(create_app(settings, runtime=runtime)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str, admin_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def anon(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c
