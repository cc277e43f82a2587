"""Workers as real processes against the module's database: kill -9, SIGTERM, Ctrl-C of ingest.

No worker runs inside this test process: every job is done by a ``docrag worker`` (or
``docrag ingest``) subprocess, started with a short lease so a killed worker's job is taken
over within seconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO
from uuid import UUID

import pytest

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.jobs.submit import submit
from docrag.services import Runtime
from docrag.settings import Settings
from queue_helpers import sql

LEASE_SECONDS = 3


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    # This process only enqueues and inspects.
    return Settings(database_url=database_url, pool_max_size=4, inprocess_worker=False)


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        **os.environ,
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_DATA_DIR": str(tmp_path_factory.mktemp("workers") / "data"),
        "DOCRAG_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "DOCRAG_JOB_POLL_SECONDS": "0.2",
        "NO_COLOR": "1",
    }


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def spawn(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``docrag ARGS...`` subprocesses; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []
    logs: list[TextIO] = []

    def start(*args: str) -> subprocess.Popen[str]:
        log = (tmp_path / f"proc{len(started)}.log").open("w")
        logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            # As from a terminal: a shell that starts a job in the background (nohup ... &, as a CI
            # runner may) leaves SIGINT ignored, children inherit that, and Ctrl-C then did nothing.
            preexec_fn=_default_sigint,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    for log in logs:
        log.close()


def note(word: str) -> bytes:
    body = " ".join(f"Record {n} about the {word} holds one more fact about {word}." for n in range(8))
    return f"# Notes on {word}\n\n{body}\n".encode()


def enqueue_many(runtime: Runtime, collection: Collection, words: list[str]) -> list[UUID]:
    """The acknowledged documents: each enqueue committed before it returned."""
    return [
        submit(runtime.jobs, runtime.ingestor, collection, Upload(note(w), f"{w}.md")).document.id
        for w in words
    ]


def count(database_url: str, ids: list[UUID], status: str) -> int:
    return int(
        sql(database_url, "SELECT count(*) FROM documents WHERE id = ANY(%s) AND status = %s", ids, status)[
            0
        ][0]
    )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assert_indexed_exactly_once(database_url: str, ids: list[UUID]) -> None:
    rows = sql(
        database_url,
        "SELECT d.id, d.status, d.chunk_count, j.state, array_agg(c.ord ORDER BY c.ord)"
        " FROM documents d JOIN jobs j ON j.document_id = d.id LEFT JOIN chunks c ON c.document_id = d.id"
        " WHERE d.id = ANY(%s) GROUP BY d.id, j.state",
        ids,
    )
    assert len(rows) == len(ids)
    for _, status, chunk_count, state, ords in rows:
        assert (status, state) == ("indexed", "done")
        assert chunk_count > 0 and ords == list(range(chunk_count))  # complete, no duplicates
    assert sql(database_url, "SELECT count(*) FROM uploads WHERE document_id = ANY(%s)", ids) == [(0,)]


def test_a_killed_worker_s_job_is_taken_over_and_done_exactly_once(
    runtime: Runtime, database_url: str, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    coll = runtime.collection(runtime.default_tenant, "kill9", create=True)
    ids = enqueue_many(runtime, coll, [f"kestrel{n}" for n in range(30)])
    # One thread: one job, or one group of small ones (jobs/group_runner.py), held when it is frozen.
    first = spawn("worker", "--concurrency", "1")
    wait_until(lambda: count(database_url, ids, "indexed") >= 4, 120, "the first documents")

    # Freeze the worker while it holds a job (between two jobs it holds none), then kill it.
    mine = f"%:{first.pid}:%"
    deadline = time.monotonic() + 30
    while True:
        os.kill(first.pid, signal.SIGSTOP)
        if sql(database_url, "SELECT 1 FROM jobs WHERE state = 'running' AND worker_id LIKE %s", mine):
            break
        os.kill(first.pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the worker never held a job"
        time.sleep(0.03)
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    time.sleep(0.3)  # the server rolls back the dead connection's open transaction, if any
    orphans = sql(database_url, "SELECT id FROM jobs WHERE state = 'running' AND worker_id LIKE %s", mine)
    assert 1 <= len(orphans) <= Settings.model_fields["worker_group_jobs"].default
    done_before = count(database_url, ids, "indexed")
    assert done_before < len(ids)

    second = spawn("worker", "--concurrency", "1")
    wait_until(lambda: count(database_url, ids, "indexed") == len(ids), 180, "every document")
    assert_indexed_exactly_once(database_url, ids)
    # Each orphan was claimed a second time, after its lease ran out, by the new worker.
    taken = sql(
        database_url, "SELECT attempts, worker_id FROM jobs WHERE id = ANY(%s)", [o[0] for o in orphans]
    )
    assert len(taken) == len(orphans)
    assert all(attempts == 2 and f":{second.pid}:" in worker_id for attempts, worker_id in taken), taken
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0


def test_sigterm_finishes_the_job_in_hand_and_exits_0(
    runtime: Runtime, database_url: str, spawn: Callable[..., subprocess.Popen[str]]
) -> None:
    coll = runtime.collection(runtime.default_tenant, "sigterm", create=True)
    words = [f"plover{n}" for n in range(40)]  # more than two groups of small uploads (one per thread)
    ids = enqueue_many(runtime, coll, words)
    proc = spawn("worker", "--concurrency", "2")
    wait_until(lambda: count(database_url, ids, "indexed") >= 2, 120, "the first documents")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    assert sql(database_url, "SELECT count(*) FROM jobs WHERE state = 'running'") == [(0,)]
    states = dict(
        sql(database_url, "SELECT d.status, count(*) FROM documents d WHERE d.id = ANY(%s) GROUP BY 1", ids)
    )
    assert set(states) <= {"indexed", "queued"} and states.get("queued", 0) > 0, states

    # Queued documents are invisible to search; indexed ones are found.
    queued = [w for w, i in zip(words, ids, strict=True) if count(database_url, [i], "queued")]
    for word in (queued[0], queued[-1]):
        hits = runtime.retriever.search(coll.tenant_id, [coll.id], f"facts about {word}", limit=50)
        assert all(count(database_url, [h.document_id], "indexed") for h in hits)
        assert not re.search(rf"\b{word}\b", " ".join(h.body for h in hits))

    # The next worker resumes with what is left.
    rest = spawn("worker")
    wait_until(lambda: count(database_url, ids, "indexed") == len(ids), 180, "the rest")
    assert_indexed_exactly_once(database_url, ids)
    rest.send_signal(signal.SIGTERM)
    assert rest.wait(60) == 0


def test_ctrl_c_of_ingest_leaves_the_rest_queued_and_a_rerun_resumes(
    runtime: Runtime, database_url: str, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    files = 40  # more than two groups of small uploads (one per worker thread)
    for n in range(files):
        (folder / f"egret{n}.md").write_bytes(note(f"egret{n}"))
    proc = spawn("ingest", str(folder), "-c", "ctrlc")

    def docs() -> list[tuple[UUID, str]]:
        return [
            (r[0], r[1])
            for r in sql(
                database_url,
                "SELECT d.id, d.status FROM documents d JOIN collections c ON c.id = d.collection_id"
                " WHERE c.name = 'ctrlc'",
            )
        ]

    wait_until(lambda: sum(s == "indexed" for _, s in docs()) >= 3, 120, "the first documents")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "run the same command to resume" in out
    assert len(docs()) == files  # every file was queued before the workers started
    assert sql(database_url, "SELECT count(*) FROM jobs WHERE state = 'running'") == [(0,)]  # handed back
    indexed = sum(s == "indexed" for _, s in docs())
    assert indexed < files

    again = spawn("ingest", str(folder), "-c", "ctrlc")
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert f"{files - indexed} new, {indexed} already stored, 0 failed" in out
    assert_indexed_exactly_once(database_url, [i for i, _ in docs()])


def test_a_worker_whose_model_server_is_down_still_starts(env: dict[str, str], tmp_path: Path) -> None:
    """The worker warms its model before claiming; an embedding server that is down then is
    reported, and the worker starts anyway: its jobs retry the model as they would."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = env | {
        "DOCRAG_EMBEDDER": "openai",
        "DOCRAG_EMBEDDER_URL": f"http://127.0.0.1:{port}/v1",
        "DOCRAG_EMBEDDER_MODEL": "absent",
        "DOCRAG_EMBEDDER_DIM": "384",
        "DOCRAG_MODEL_RETRIES": "0",
        "DOCRAG_DATA_DIR": str(tmp_path / "data"),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", "worker"],
            env=down,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=_default_sigint,
        )
        try:
            started = lambda: "worker started" in log_path.read_text()  # noqa: E731
            wait_until(lambda: started() or proc.poll() is not None, 60, "the worker to start or exit")
            text = log_path.read_text()
            assert proc.poll() is None and started(), text
            assert "model not warmed up (" in text, text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
