"""Blue-green on the local target, for real: scripts/deploy-production.sh and
rollback-production.sh run the real nginx on loopback and real DocRAG API processes over one
PostgreSQL, while a bounded load goes through nginx. Run with -s to see the counts and p95."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from bluegreen_load import Load
from ci_strict import require
from docrag.settings import Settings
from paths import ROOT

DEPLOY = ROOT / "scripts" / "deploy-production.sh"
ROLLBACK = ROOT / "scripts" / "rollback-production.sh"
KB = "handbook"
LIGHTHOUSE = b"# Lighthouse keeping\n\nThe lighthouse keeper trims the lamp wick at dusk and logs ships.\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    env: dict[str, str]
    state: Path
    url: str
    ports: dict[str, int]

    def run(self, *args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        got = subprocess.run(
            list(args), env={**self.env, **(extra or {})}, capture_output=True, text=True, timeout=400
        )
        sys.stderr.write(got.stderr)
        return got

    def deploy(self, version: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(DEPLOY), version, "local", extra=extra)

    def rollback(self) -> subprocess.CompletedProcess[str]:
        return self.run(str(ROLLBACK), "local")

    def live(self) -> str:
        return (self.state / "live").read_text().strip()


@pytest.fixture(scope="module")
def stack(settings: Settings, admin_key: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require(shutil.which("nginx") is not None, "nginx (.ci/run installs it)")
    state = tmp_path_factory.mktemp("bluegreen")
    ports = {"nginx": _free_port(), "blue": _free_port(), "green": _free_port()}
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": settings.database_url,
        "DOCRAG_DEPLOY_STATE": str(state),
        "DOCRAG_DEPLOY_PORT": str(ports["nginx"]),
        "DOCRAG_DEPLOY_BLUE_PORT": str(ports["blue"]),
        "DOCRAG_DEPLOY_GREEN_PORT": str(ports["green"]),
        "DOCRAG_DEPLOY_PYTHON": sys.executable,
        "DOCRAG_DATA_DIR": str(state / "data"),  # both colours: one store of uploaded files
        "DOCRAG_API_KEY": admin_key,  # the health gate compares the colours component by component
    }
    if settings.database_owner_url:
        env["DOCRAG_DATABASE_OWNER_URL"] = settings.database_owner_url
    for name in ("DOCRAG_REDIS_URL", "DOCRAG_DEPLOY_ENV_FILE"):
        env.pop(name, None)
    up = Stack(env, state, f"http://127.0.0.1:{ports['nginx']}", ports)
    try:
        yield up
    finally:
        up.run(str(DEPLOY), "--stop", "local")


@pytest.fixture(scope="module")
def api_key(stack: Stack, admin_key: str) -> str:
    """The first deploy (blue, nothing live before it), then one indexed document through nginx."""
    first = stack.deploy(str(ROOT))
    assert first.returncode == 0, first.stderr
    assert stack.live() == "blue"
    auth = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=stack.url, headers=auth, timeout=120) as http:
        up = http.post(
            f"/v1/collections/{KB}/documents",
            params={"wait": "true"},
            files={"file": ("lighthouse.md", LIGHTHOUSE, "application/octet-stream")},
        )
        assert up.status_code == 201, up.text
    return admin_key


def _load(stack: Stack, key: str) -> Load:
    return Load(stack.url, key, KB, threads=4, max_requests=3000, max_seconds=240)


def test_deploy_and_rollback_under_load_fail_no_request(stack: Stack, api_key: str) -> None:
    with _load(stack, api_key) as load:
        # Each switch returns once nginx's old workers are gone: every answer after it is the
        # new colour's. 20 of each are enough for the order checked below.
        load.wait_answers(20)
        deployed = stack.deploy(str(ROOT))
        assert deployed.returncode == 0, deployed.stderr
        assert stack.live() == "green"
        load.wait_answers(20)
        rolled = stack.rollback()
        assert rolled.returncode == 0, rolled.stderr
        assert stack.live() == "blue"
        load.wait_answers(20)
    print(f"\nblue-green deploy + rollback through nginx: {load.summary()}")
    assert not load.failed(), load.failed()[:5]
    colors = [o.color for o in load.outcomes]
    assert colors.count("green") > 0 and colors.count("blue") > 0
    # In order: blue before the deploy, green after it, blue again after the rollback.
    assert colors[0] == "blue" and colors[-1] == "blue"
    hits = [o for o in load.outcomes if o.kind == "search"]
    assert len(hits) > 20
    # Both colours ran, and nginx named the port of the colour it said served each answer.
    for o in load.outcomes:
        assert o.upstream == f"127.0.0.1:{stack.ports[o.color]}", o


def test_a_green_that_fails_its_health_check_never_gets_traffic(
    stack: Stack, api_key: str, tmp_path: Path
) -> None:
    assert stack.live() == "blue"
    bad = tmp_path / "bad.env"
    bad.write_text("DOCRAG_REDIS_URL=redis://127.0.0.1:1/0\n")  # a wrong setting: its cache is down
    with _load(stack, api_key) as load:
        load.wait_answers(10)
        refused = stack.deploy(str(ROOT), DOCRAG_DEPLOY_ENV_FILE=str(bad))
        # Without an admin key the components are hidden: the gate compares the scores instead.
        refused_by_score = stack.deploy(str(ROOT), DOCRAG_DEPLOY_ENV_FILE=str(bad), DOCRAG_API_KEY="")
        load.wait_answers(10)
    print(f"\nrefused deploys under load: {load.summary()}")
    assert refused.returncode != 0 and refused_by_score.returncode != 0
    assert "green: component redis is down (up on blue)" in refused.stderr
    assert "is less healthy than blue" in refused_by_score.stderr
    for attempt in (refused, refused_by_score):
        assert "failed its health check" in attempt.stderr and "blue keeps serving" in attempt.stderr
    assert stack.live() == "blue"
    assert not load.failed(), load.failed()[:5]
    assert load.outcomes and {o.color for o in load.outcomes} == {"blue"}
    assert {o.upstream for o in load.outcomes} == {f"127.0.0.1:{stack.ports['blue']}"}
    # The refused green started (its log exists) and answered the health checks, but no search.
    green_log = (stack.state / "green.log").read_text()
    assert "GET /health/ready" in green_log and "/v1/search" not in green_log
    upstreams = (stack.state / "nginx" / "upstream.conf").read_text()
    assert f":{stack.ports['green']}" not in upstreams


def test_a_contracting_migration_is_refused_before_anything_changes(
    stack: Stack, api_key: str, settings: Settings, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    shutil.copytree(ROOT / "src", release / "src", ignore=shutil.ignore_patterns("__pycache__"))
    migrations = release / "src" / "docrag" / "store" / "migrations"
    (migrations / "0999_drop_title.sql").write_text("ALTER TABLE documents DROP COLUMN title;\n")
    refused = stack.deploy(str(release))
    assert refused.returncode != 0
    assert "0999_drop_title.sql: drops a column" in refused.stderr
    assert stack.live() == "blue"
    owner = settings.database_owner_url or settings.database_url
    with psycopg.connect(owner) as conn:
        assert conn.execute("SELECT 1 FROM schema_migrations WHERE version = 999").fetchone() is None
        title = "SELECT 1 FROM information_schema.columns WHERE table_name = 'documents' AND column_name = %s"
        assert conn.execute(title, ("title",)).fetchone()
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as http:
        found = http.post("/v1/search", json={"query": "lighthouse keeper", "collections": [KB]})
    assert found.status_code == 200 and found.json()["hits"]
    assert found.headers["x-docrag-color"] == "blue"


def _nginx_workers(stack: Stack) -> set[str]:
    """The pids of nginx's workers: a reload forks new ones while the old ones drain."""
    master = (stack.state / "nginx" / "nginx.pid").read_text().strip()
    return set(Path(f"/proc/{master}/task/{master}/children").read_text().split())


def _slow_upload(
    url: str, key: str, text: str, started: threading.Event, until: Callable[[], bool]
) -> tuple[httpx.Response, float]:
    """An upload in flight until ``until()`` holds: its head and half its body go at once (then
    ``started`` is set), the rest once ``until()`` is true (looked at every 0.05 s, at most
    60 s), so the request surely spans the event the test waits for, however slow the machine.
    Returns the answer and when it came (time.monotonic())."""
    boundary = "docrag-slow-upload"
    body = text.encode()
    half = len(body) // 2

    def trickle() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.md"\r\n'
            "Content-Type: text/markdown\r\n\r\n"
        ).encode() + body[:half]
        started.set()  # resumed: the head and the first half were sent
        deadline = time.monotonic() + 60
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield body[half:]
        yield f"\r\n--{boundary}--\r\n".encode()

    got = httpx.post(
        f"{url}/v1/collections/{KB}/documents",
        params={"wait": "true"},
        content=trickle(),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        timeout=120,
    )
    return got, time.monotonic()


def test_switches_wait_for_in_flight_requests_and_stopping_a_colour_finishes_its_own(
    stack: Stack, api_key: str
) -> None:
    import concurrent.futures

    assert stack.deploy(str(ROOT)).returncode == 0
    assert stack.live() == "green"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Through nginx to green: in flight while the rollback's reload moves traffic to blue,
        # until that reload has forked new workers.
        text = "# Tides log\n\n" + "The harbour master logs each spring tide at the north quay. " * 40
        started, workers = threading.Event(), _nginx_workers(stack)

        def reloaded() -> bool:
            return _nginx_workers(stack) != workers

        upload = pool.submit(_slow_upload, stack.url, api_key, text, started, reloaded)
        assert started.wait(30)
        time.sleep(0.3)  # nginx's worker has read the request's head: it is in flight there
        rolled = stack.rollback()
        rollback_done = time.monotonic()
        answer, answered_at = upload.result()
    assert rolled.returncode == 0, rolled.stderr
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-docrag-color"] == "green"  # finished where it started
    # The rollback reported the switch only once nginx's old worker had answered the upload.
    assert rollback_done >= answered_at, (rollback_done, answered_at)
    assert "old workers drained" in rolled.stderr

    # Straight to green's port (kept, no longer live): the next deploy stops green first, with
    # SIGTERM; uvicorn finishes the upload it is receiving before it exits. The upload's body
    # ends only once green has logged the signal.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        text = "# Buoys\n\n" + "Each channel buoy carries a bell and a green light for night passage. " * 40
        green_url = f"http://127.0.0.1:{stack.ports['green']}"
        green_log, started = stack.state / "green.log", threading.Event()

        def signalled() -> bool:
            return "Shutting down" in green_log.read_text()  # uvicorn's line on SIGTERM

        upload = pool.submit(_slow_upload, green_url, api_key, text, started, signalled)
        assert started.wait(30)
        time.sleep(0.3)  # green has read the request's head: it is in flight there
        redeployed = stack.deploy("HEAD")  # VERSION as a git ref: exported with git archive
        answer, _ = upload.result()
    assert "stopping green" in redeployed.stderr
    assert answer.status_code == 201, answer.text
    assert redeployed.returncode == 0, redeployed.stderr
    assert stack.live() == "green"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout
    release = stack.state / "releases" / head.strip()
    assert (stack.state / "green.release").read_text().strip() == str(release)
    assert (release / "src" / "docrag" / "store" / "migrations").is_dir()
