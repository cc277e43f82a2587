"""Hostile and huge files: each limit fails its own document with a typed code, never the worker.

Every hostile file is crafted here (hostile_factory.py) and goes through the real pipeline: the
sandboxed parse of :meth:`Ingestor.prepare`, and the job queue with a real worker, real
PostgreSQL and the real model. The module runs under small limits so that the files stay small.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from docrag.errors import DocRAGError, ParseMemoryExceeded, ParseTimeout, error_for
from docrag.ingest.parsers import ParseLimits
from docrag.ingest.pipeline import Ingestor, Upload, safe_filename
from docrag.ingest.sandbox import ParseSandbox
from docrag.jobs.runner import JobOutcome
from docrag.jobs.submit import submit, wait_final
from docrag.services import Runtime
from docrag.settings import Settings
from docs_factory import make_pdf
from hostile_factory import (
    MiB,
    bomb_docx,
    circular_kids_pdf,
    circular_xref_pdf,
    encrypted_pdf,
    flate_bomb_pdf,
    good_docx,
    hungry_text,
    laughs_docx,
    lying_bomb_docx,
    lying_count_pdf,
    many_pages_pdf,
    slow_pdf,
)

TIMEOUT_S = 3.0
MEMORY_MB = 256


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        pool_max_size=8,
        job_poll_seconds=0.2,
        job_retry_base_seconds=0.2,
        max_pages=3,
        max_decompressed_bytes=8 * MiB,
        parse_timeout_seconds=TIMEOUT_S,
        worker_memory_mb=MEMORY_MB,
        inprocess_worker=False,  # the API server of the file-name test runs no worker of its own
    )


#: (file name, the bytes, the code its document fails with) for files that pass the upload checks.
HOSTILE: list[tuple[str, Callable[[], bytes], str]] = [
    ("bomb.docx", lambda: bomb_docx(16 * MiB), "decompression_bomb"),
    ("lying-sizes-bomb.docx", lambda: lying_bomb_docx(16 * MiB), "unreadable_file"),
    ("billion-laughs.docx", laughs_docx, "unreadable_file"),
    ("billion-laughs-after-a-comment.docx", lambda: laughs_docx(10_000), "unreadable_file"),
    ("circular-page-tree.pdf", circular_kids_pdf, "unreadable_file"),
    ("flate-bomb.pdf", lambda: flate_bomb_pdf(16 * MiB), "decompression_bomb"),
    ("five-pages.pdf", lambda: many_pages_pdf(5), "too_many_pages"),
    ("encrypted.pdf", encrypted_pdf, "encrypted_file"),
    ("slow.pdf", lambda: slow_pdf(80_000), "parse_timeout"),  # ~9 s of text extraction here
    ("hungry.txt", hungry_text, "parse_memory_exceeded"),
]

#: Refused at upload, before anything is stored.
REFUSED: list[tuple[str, bytes, str]] = [
    ("empty.txt", b"", "empty_file"),
    ("latin1.txt", "café au lait, crème brûlée\n".encode("latin-1"), "unreadable_file"),
    ("nul-bytes.txt", b"\x00\x01\x02 binary \x00" * 200, "unsupported_file_type"),
]


def good_files() -> list[tuple[str, bytes]]:
    return [
        ("good.md", b"# Lighthouse\n\nThe lighthouse keeper logs every passing ship by hand.\n"),
        ("good.docx", good_docx("quarry")),
        ("good.pdf", make_pdf([["The observatory opened its dome to the public in spring."]])),
    ]


@pytest.mark.parametrize(("name", "make", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_file_fails_with_its_code_in_the_pipeline(
    runtime: Runtime, name: str, make: Callable[[], bytes], code: str
) -> None:
    data = make()
    started = time.monotonic()
    with pytest.raises(DocRAGError) as caught:
        runtime.ingestor.prepare(data, name)
    assert caught.value.code == code, caught.value.message
    assert type(caught.value) is type(error_for(code, ""))  # the typed class, not a bare code
    assert time.monotonic() - started < TIMEOUT_S + 15
    # The parser process is fine afterwards (or was replaced): a good file still parses.
    good_name, good_data = good_files()[0]
    parsed, drafts = runtime.ingestor.prepare(good_data, good_name)
    assert parsed.text.startswith("Lighthouse") and drafts


def test_limits_are_typed_errors_with_statuses() -> None:
    assert (error_for("decompression_bomb", "").status, error_for("too_many_pages", "").status) == (413, 422)
    assert error_for("parse_timeout", "").status == error_for("parse_memory_exceeded", "").status == 422


@pytest.mark.parametrize(("name", "data", "code"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_at_upload_and_nothing_stored(runtime: Runtime, name: str, data: bytes, code: str) -> None:
    coll = runtime.collection(runtime.default_tenant, "refused", create=True)
    with pytest.raises(DocRAGError) as caught:
        submit(runtime.jobs, runtime.ingestor, coll, Upload(data, name))
    assert caught.value.code == code
    with pytest.raises(DocRAGError) as direct:  # the direct path says the same
        runtime.ingest_now.ingest(coll, Upload(data, name))
    assert direct.value.code == code
    assert runtime.store.list_documents(coll.tenant_id, coll.id) == []


def test_lying_page_count_and_circular_xref_read_their_real_page(runtime: Runtime) -> None:
    for data in (lying_count_pdf(1_000_000), circular_xref_pdf()):
        parsed, _ = runtime.ingestor.prepare(data, "odd.pdf")
        assert parsed.page_count == 1
        assert parsed.text == "A real page of the document."


def test_stray_nul_bytes_are_dropped_wherever_they_are(runtime: Runtime) -> None:
    body = b"The ferry crosses the strait twice a day in summer.\n\n"
    for data in (b"\x00" + body * 3, body * 160 + b"\x00" + body):  # in and past the sniffed head
        parsed, _ = runtime.ingestor.prepare(data, "notes.txt")
        assert "\x00" not in parsed.text and parsed.text.startswith("The ferry")


def test_a_bomb_past_the_default_limit_is_refused(database_url: str, runtime: Runtime) -> None:
    defaults = Settings(database_url=database_url)
    assert defaults.max_decompressed_bytes == 200 * MiB
    ingestor = Ingestor(runtime.embedder, defaults, redacts=runtime.ingestor.redacts)
    try:
        with pytest.raises(DocRAGError) as caught:
            ingestor.prepare(bomb_docx(256 * MiB), "bomb.docx")
        assert caught.value.code == "decompression_bomb"
        with pytest.raises(DocRAGError) as lying:
            ingestor.prepare(lying_bomb_docx(256 * MiB), "bomb.docx")
        assert lying.value.code == "unreadable_file" and "CRC" in lying.value.message
    finally:
        ingestor.close()


def test_the_sandbox_replaces_a_killed_parser() -> None:
    sandbox = ParseSandbox(ParseLimits(), timeout_seconds=0.5, memory_mb=MEMORY_MB)
    note = b"# Kept\n\nThe parser process keeps serving after a hostile file.\n"
    try:
        assert sandbox.parse(note, "a.md").title == "Kept"
        assert sandbox.started == 1
        with pytest.raises(ParseTimeout):
            sandbox.parse(slow_pdf(20_000), "slow.pdf")
        assert sandbox.parse(note, "a.md").text.startswith("Kept")
        assert sandbox.started == 2
        sandbox.timeout_seconds = 60
        with pytest.raises(ParseMemoryExceeded):
            sandbox.parse(hungry_text(), "hungry.txt")
        assert sandbox.parse(note, "a.md").text.startswith("Kept")
        assert sandbox.started == 3
    finally:
        sandbox.close()


def test_worker_survives_a_batch_of_hostile_files(runtime: Runtime) -> None:
    coll = runtime.collection(runtime.default_tenant, "batch", create=True)
    hostile = {
        submit(runtime.jobs, runtime.ingestor, coll, Upload(make(), name)).document.id: code
        for name, make, code in HOSTILE
    }
    good = [submit(runtime.jobs, runtime.ingestor, coll, Upload(d, n)).document.id for n, d in good_files()]
    w = runtime.worker(concurrency=2)
    w.start()
    try:
        docs = wait_final(runtime.jobs, coll.tenant_id, [*hostile, *good], timeout=300)
        by_id = {d.id: d for d in docs}
        assert {i: (by_id[i].status, by_id[i].error_code) for i in hostile} == {
            i: ("failed", code) for i, code in hostile.items()
        }
        assert all(by_id[i].status == "indexed" and by_id[i].chunk_count > 0 for i in good)
        # The same worker is alive and still indexes what comes next.
        late = submit(
            runtime.jobs,
            runtime.ingestor,
            coll,
            Upload(b"# Late\n\nThe late upload about the glacier arrives after the hostile batch.\n", "l.md"),
        ).document
        (final,) = wait_final(runtime.jobs, coll.tenant_id, [late.id], timeout=60)
        assert final.status == "indexed"
    finally:
        w.stop()
        assert w.join(60)
    assert w.outcomes[JobOutcome.FAILED] == len(HOSTILE)
    assert w.outcomes[JobOutcome.DONE] == len(good) + 1
    assert w.outcomes[JobOutcome.RETRYING] == 0  # every failure was permanent and typed at once
    hits = runtime.retriever.search(coll.tenant_id, [coll.id], "glacier late upload", limit=3)
    assert hits


# --- file names ------------------------------------------------------------------------------------

NAMES = [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\win.ini", "win.ini"),
    ("a/b/../../c.pdf", "c.pdf"),
    ("/absolute/path/report.md", "report.md"),
    ("..", None),
    ("nul\x00name\n.txt", "nulname.txt"),
    ("x" * 10_000 + ".txt", "x" * 255),
]


@pytest.mark.parametrize(("raw", "shown"), NAMES, ids=range(len(NAMES)))
def test_safe_filename_is_a_bare_display_name(raw: str, shown: str | None) -> None:
    assert safe_filename(raw) == shown


@pytest.fixture
def in_empty_dir(tmp_path: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(previous)


def test_uploaded_file_names_are_never_paths(
    runtime: Runtime, client: httpx.Client, in_empty_dir: Path
) -> None:
    coll = runtime.collection(runtime.default_tenant, "names", create=True)
    for n, (raw, shown) in enumerate(NAMES):
        data = f"# Entry {n}\n\nThe archive entry number {n} lists a distinct shipwreck.\n".encode()
        doc = submit(runtime.jobs, runtime.ingestor, coll, Upload(data, raw)).document
        assert doc.filename == shown
        assert doc.title == (shown or "untitled")
    traversal = b"# Over HTTP\n\nThe uploaded note names a path outside the server folder.\n"
    response = client.post(
        "/v1/collections/names/documents",
        files={"file": ("../../../../tmp/evil.md", traversal, "text/markdown")},
    )
    assert response.status_code == 202, response.text
    assert response.json()["filename"] == "evil.md"
    assert list(in_empty_dir.iterdir()) == []  # nothing was written under the client's names
    assert not Path("/tmp/evil.md").exists()
