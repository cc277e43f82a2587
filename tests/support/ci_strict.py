"""What the suite needs from outside the repository, and what a missing piece does: locally a
test skips with the reason; with ``CI=true`` (.ci/run sets it) the run fails loudly instead, so
that CI never passes by testing nothing. Every such check goes through :func:`require`.

At the session's start, with ``CI=true``, the evaluation data (../shared/data next to the
repository) and the Redis on 127.0.0.1:6379 must be there, or the run stops before any test.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from paths import DOCS

REDIS = ("127.0.0.1", 6379)  # the Redis the cache, rate-limit and erasure tests use
REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(present: bool, what: str) -> None:
    """Skip the test (or, at collection, the module) when ``what`` is missing; fail under CI=true."""
    if present:
        return
    if in_ci():
        pytest.fail(f"CI=true but {what} is missing", pytrace=False)
    pytest.skip(f"{what} is missing", allow_module_level=True)


def needs(present: bool, what: str) -> pytest.MarkDecorator:
    """A mark for a test or a module (``pytestmark``) that needs ``what``: :func:`require` at
    each of its tests' setup."""
    return pytest.mark.needs(present=present, what=what)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("needs"):
        require(mark.kwargs["present"], mark.kwargs["what"])


def require_binary(name: str, package: str | None = None) -> str:
    """The path of executable ``name`` (from the Debian package ``package``, which .ci/run installs)."""
    path = shutil.which(name)
    require(path is not None, f"{name} ({package or name}; .ci/run installs it)")
    assert path is not None
    return path


def require_data(path: Path) -> Path:
    """``path`` under ../shared/data, which must be there."""
    require(path.exists(), f"the evaluation data {path}")
    return path


def redis_reachable() -> bool:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError:
        return False
    return True


def pytest_sessionstart(session: pytest.Session) -> None:
    """With CI=true, what tests would otherwise skip on must be there: fail loudly instead."""
    if not in_ci():
        return
    if not DOCS.is_dir():
        raise pytest.UsageError(f"CI=true but the evaluation data {DOCS} is missing")
    if not redis_reachable():
        host, port = REDIS
        raise pytest.UsageError(f"CI=true but Redis at {host}:{port} is unreachable")
