"""The ``docrag`` command in remote mode: real subprocesses against the real API on loopback,
through docrag.client, with typed exit statuses; and its shell completion."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from docrag.api.app import create_app
from docrag.client import Client
from docrag.services import Runtime
from docs_factory import PNG_BYTES
from http_servers import serve
from llm_server import ChatServer, Prompt
from runtimes import second_runtime

COLLECTION = "remotecli"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

FILES = {
    "kettle.md": b"# Kettle Manual\n\n## Descaling\n\n"
    b"Descale the Ravenbrook kettle every four weeks with white vinegar.\n",
    "garden.txt": b"Garden notes.\n\nWater the tomato seedlings every morning before nine.\n",
    "photo.png": PNG_BYTES + bytes(64),
}


def run_cli(
    cwd: Path, *args: str, url: str | None = None, key: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m docrag.cli`` with DOCRAG_URL/DOCRAG_API_KEY set, and no database configured at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    env.update({"DOCRAG_DATA_DIR": str(cwd / "data"), "NO_COLOR": "1", "COLUMNS": "200"})
    if url is not None:
        env["DOCRAG_URL"] = url
    if key is not None:
        env["DOCRAG_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "docrag.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-remote")


@pytest.fixture(scope="module")
def ingested(
    base_url: str, admin_key: str, workdir: Path
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``docrag ingest`` of a folder through the server, run twice."""
    folder = workdir / "inbox"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    first = run_cli(workdir, "ingest", str(folder), "-c", COLLECTION, url=base_url, key=admin_key)
    second = run_cli(workdir, "ingest", str(folder), "-c", COLLECTION, url=base_url, key=admin_key)
    return first, second


def test_ingest_uploads_waits_and_reports(
    ingested: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]], workdir: Path
) -> None:
    first, second = ingested
    assert first.returncode == 0, first.stderr
    assert "2 new, 0 already stored, 1 failed" in first.stdout, first.stdout
    failure = [line for line in first.stdout.splitlines() if "failed" in line and "photo.png" in line]
    assert len(failure) == 1 and "ocr_disabled" in failure[0], first.stdout  # OCR is off by default
    assert "uploaded" in first.stderr and "indexed" in first.stderr  # the two progress bars
    assert second.returncode == 0, second.stderr
    assert "0 new, 2 already stored, 1 failed" in second.stdout, second.stdout
    # Remote mode never opened a local database: no embedded PostgreSQL folder appeared.
    assert not (workdir / "data").exists()


def test_ask_prints_the_streamed_answer_and_its_citations(
    base_url: str, admin_key: str, workdir: Path, ingested: object
) -> None:
    question = "How often should the Ravenbrook kettle be descaled?"
    result = run_cli(workdir, "ask", question, "-c", COLLECTION, url=base_url, key=admin_key)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "every four weeks" in lines[0], result.stdout
    citation = [line for line in lines if line.startswith("[1] ")]
    assert citation and "Kettle Manual" in citation[0], result.stdout
    assert re.search(rf"\({UUID_RE}, chars \d+-\d+\)", citation[0]), citation[0]

    keyless = run_cli(workdir, "ask", question, "-c", COLLECTION, url=base_url)
    assert keyless.returncode == 3, keyless.stdout + keyless.stderr  # no key at all: refused
    assert "error [unauthenticated]" in keyless.stderr


def test_search_and_document_listing(base_url: str, admin_key: str, workdir: Path, ingested: object) -> None:
    found = run_cli(
        workdir,
        "search",
        "descaling the kettle",
        "-c",
        COLLECTION,
        "--limit",
        "1",
        url=base_url,
        key=admin_key,
    )
    assert found.returncode == 0, found.stderr
    lines = found.stdout.strip().splitlines()
    assert len(lines) == 1 and "Kettle Manual" in lines[0] and "Ravenbrook" in lines[0], found.stdout

    listed = run_cli(workdir, "documents", "list", "-c", COLLECTION, url=base_url, key=admin_key)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 2 and all(" indexed " in row for row in rows), listed.stdout
    assert any("Kettle Manual (kettle.md)" in row for row in rows), listed.stdout


def test_delete_a_document_then_it_is_not_found_nor_cited(
    base_url: str, admin_key: str, workdir: Path, ingested: object
) -> None:
    listed = run_cli(workdir, "documents", "list", "-c", COLLECTION, url=base_url, key=admin_key)
    kettle = next(row.split()[0] for row in listed.stdout.splitlines() if "Kettle Manual" in row)
    shown = run_cli(workdir, "documents", "show", kettle, url=base_url, key=admin_key)
    assert shown.returncode == 0 and "status: indexed" in shown.stdout, shown.stdout + shown.stderr

    deleted = run_cli(workdir, "documents", "delete", kettle, url=base_url, key=admin_key)
    assert deleted.returncode == 0, deleted.stderr
    gone = run_cli(workdir, "documents", "show", kettle, url=base_url, key=admin_key)
    assert gone.returncode == 4, gone.stdout + gone.stderr
    assert "error [document_not_found]" in gone.stderr and "Traceback" not in gone.stderr
    asked = run_cli(
        workdir, "ask", "How often is the kettle descaled?", "-c", COLLECTION, url=base_url, key=admin_key
    )
    assert asked.returncode == 0, asked.stderr
    assert "Kettle Manual" not in asked.stdout and kettle not in asked.stdout

    unknown = run_cli(workdir, "documents", "delete", str(uuid.uuid4()), url=base_url, key=admin_key)
    assert unknown.returncode == 4 and "document_not_found" in unknown.stderr
    malformed = run_cli(workdir, "documents", "show", "not-a-uuid", url=base_url, key=admin_key)
    assert malformed.returncode == 2  # a usage error, caught before any request


def test_ingest_no_wait_only_uploads(base_url: str, admin_key: str, workdir: Path) -> None:
    note = workdir / "quarry.md"
    note.write_bytes(b"# Quarry\n\nThe Pellworth quarry closed in 1962.\n")
    queued = run_cli(workdir, "ingest", str(note), "-c", "later", "--no-wait", url=base_url, key=admin_key)
    assert queued.returncode == 0, queued.stderr
    assert "1 queued, 0 already stored, 0 failed" in queued.stdout, queued.stdout
    assert "indexed" not in queued.stderr  # uploaded, not followed
    missing = run_cli(workdir, "ingest", str(workdir / "nope.md"), url=base_url, key=admin_key)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_collections_create_list_delete(base_url: str, admin_key: str, workdir: Path) -> None:
    # --url and --key as options this time, rather than the environment.
    flags = ("--url", base_url, "--key", admin_key)
    created = run_cli(workdir, "collections", "create", "cli-made", *flags)
    assert created.returncode == 0, created.stderr
    listed = run_cli(workdir, "collections", "list", *flags)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^cli-made  0 documents  \S+", listed.stdout, re.M), listed.stdout
    again = run_cli(workdir, "collections", "create", "cli-made", *flags)
    assert again.returncode == 1 and "collection_exists" in again.stderr  # a conflict: a generic error

    deleted = run_cli(workdir, "collections", "delete", "cli-made", "--yes", *flags)
    assert deleted.returncode == 0, deleted.stderr
    after = run_cli(workdir, "collections", "list", *flags)
    assert "cli-made" not in after.stdout
    missing = run_cli(workdir, "collections", "delete", "cli-made", "--yes", *flags)
    assert missing.returncode == 4 and "collection_not_found" in missing.stderr

    bad_name = run_cli(workdir, "collections", "create", "../etc", *flags)
    assert bad_name.returncode == 2 and "collection name" in bad_name.stderr


def test_a_wrong_key_exits_3_with_a_clear_message(base_url: str, workdir: Path) -> None:
    for command in (("collections", "list"), ("search", "kettle"), ("ask", "kettle?")):
        result = run_cli(workdir, *command, url=base_url, key="drg_not_a_real_key")
        assert result.returncode == 3, (command, result.stdout, result.stderr)
        assert "error [unauthenticated]" in result.stderr
        assert "--key or DOCRAG_API_KEY" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_server_that_is_down_exits_5_quickly(workdir: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before use: nothing listens there
    url = f"http://127.0.0.1:{port}"
    for command in (("collections", "list"), ("ask", "anything?")):
        started = time.monotonic()
        result = run_cli(workdir, *command, url=url, key="drg_x", timeout=60)
        elapsed = time.monotonic() - started
        assert result.returncode == 5, (result.stdout, result.stderr)
        assert f"no answer from the DocRAG server at {url}" in result.stderr
        assert "Traceback" not in result.stderr
        assert elapsed < 15, elapsed  # interpreter start and two short retries, not the 120 s timeout


def test_help_documents_the_exit_statuses_and_remote_options(workdir: Path) -> None:
    result = run_cli(workdir, "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "0 ok, 1 error, 2 usage error, 3 authentication" in text, text
    assert "4 not found" in text and "5 server unreachable" in text
    for command in ("documents", "collections", "ingest", "ask", "search"):
        assert command in result.stdout
    ask_help = " ".join(run_cli(workdir, "ask", "--help").stdout.split())
    assert "--url" in ask_help and "DOCRAG_URL" in ask_help and "DOCRAG_API_KEY" in ask_help


def test_bash_completion_script_completes_subcommands(workdir: Path) -> None:
    """The bash script, sourced in a real bash, completes. Asked for by name (click's
    ``_DOCRAG_COMPLETE=source_bash``): ``--show-completion`` prints the script of the shell it
    detects among its parent processes, and a test run from no shell has none."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    docrag = Path(sys.executable).parent / "docrag"
    assert docrag.exists(), "the docrag entry point is installed beside the interpreter"
    shown = subprocess.run(
        [str(docrag)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "_DOCRAG_COMPLETE": "source_bash"},
    )
    assert shown.returncode == 0, shown.stderr
    script = shown.stdout
    assert "_DOCRAG_COMPLETE=complete_bash" in script
    env = {**os.environ, "PATH": f"{docrag.parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def complete(*words: str) -> list[str]:
        program = (
            f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            '_docrag_completion docrag; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        done = subprocess.run([bash, "-c", program], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("docrag", "doc") == ["documents"]
    assert complete("docrag", "collections", "") == ["list", "create", "delete"]
    assert "--url" in complete("docrag", "ask", "--u")


STREAMED = "streamed"
RINSE = b"# Kettle care\n\nDescale the Ravenbrook kettle every four weeks with white vinegar.\n\n" + (
    b"Rinse the Ravenbrook kettle twice with clean water after descaling.\n"
)


@pytest.fixture(scope="module")
def llm() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def generating_url(
    database_url: str, runtime: Runtime, base_url: str, admin_key: str, llm: ChatServer
) -> Iterator[str]:
    """A second server over the module's database, writing answers with the loopback LLM stand-in."""
    with Client(base_url, admin_key) as docrag:
        doc = docrag.upload(STREAMED, io.BytesIO(RINSE), filename="care.md", wait=True)
        assert doc.status == "indexed", doc
    for rt in second_runtime(
        database_url,
        generator="openai",
        llm_base_url=llm.url + "/v1",
        llm_model="stand-in",
        llm_api_key="sk-test",
        llm_timeout_seconds=10.0,
        answer_cache_seconds=0,
    ):
        with serve(create_app(rt.settings, runtime=rt)) as url:
            yield url


def test_ask_prints_each_sentence_as_it_streams(
    generating_url: str, admin_key: str, workdir: Path, llm: ChatServer
) -> None:
    """With a model that writes slowly, the first sentence is on screen well before the answer ends."""
    llm_sentences = (
        "Descale the Ravenbrook kettle every four weeks with white vinegar [{n}]. "
        "Rinse the Ravenbrook kettle twice with clean water after descaling [{n}]."
    )

    def respond(prompt: Prompt) -> str:
        n = next(n for n, text in prompt.passages.items() if "every four weeks" in text)
        return llm_sentences.format(n=n)

    llm.respond = respond
    llm.chunk_delay = 0.15  # about 2 s for the whole answer, a word at a time
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    env.update({"DOCRAG_URL": generating_url, "DOCRAG_API_KEY": admin_key, "NO_COLOR": "1"})
    seen: list[tuple[float, str]] = []
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docrag.cli",
            "ask",
            "How do I descale the Ravenbrook kettle?",
            "-c",
            STREAMED,
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        text = ""
        while chunk := os.read(proc.stdout.fileno(), 4096):
            text += chunk.decode()
            seen.append((time.monotonic(), text))
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""

    def first(needle: str) -> float:
        return next(at for at, so_far in seen if needle in so_far)

    assert "Descale the Ravenbrook kettle every four weeks with white vinegar." in text, text
    assert re.search(r"^\[2\] Kettle care \(", text, re.M), text
    assert first("Rinse the Ravenbrook") - first("every four weeks") > 0.5, seen
    assert first("[1] Kettle care") >= first("Rinse the Ravenbrook")


def test_every_error_class_has_its_exit_status() -> None:
    from docrag import errors
    from docrag.cli import exits

    expected = {
        errors.Unauthenticated: exits.AUTH,
        errors.Forbidden: exits.AUTH,
        errors.NotFound: exits.NOT_FOUND,
        errors.ServerUnreachable: exits.UNAVAILABLE,
        errors.Unavailable: exits.UNAVAILABLE,
        errors.GeneratorUnavailable: exits.UNAVAILABLE,
        errors.GeneratorFailed: exits.UNAVAILABLE,
        errors.RateLimited: exits.UNAVAILABLE,
        errors.UnsupportedFileType: exits.ERROR,
        errors.InvalidRequest: exits.ERROR,
        errors.Conflict: exits.ERROR,
    }
    for cls, status in expected.items():
        assert exits.status_of(cls("x")) == status, cls
    # A code this CLI does not know (a newer server's) is placed by the HTTP status it came with.
    for http, status in (
        (404, exits.NOT_FOUND),
        (403, exits.AUTH),
        (504, exits.UNAVAILABLE),
        (418, exits.ERROR),
    ):
        unknown = errors.error_for("brand_new_code", "x")
        unknown.status = http
        assert exits.status_of(unknown) == status, http
