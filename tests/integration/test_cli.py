"""The ``docrag`` command line, run as real subprocesses against the module's database."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from cli_runs import run_cli
from docs_factory import PNG_BYTES

COLLECTION = "handbook"

FILES = {
    "kettle.md": b"# Kettle Manual\n\n## Descaling\n\n"
    b"Descale the Ravenbrook kettle every four weeks with white vinegar.\n",
    "garden.txt": b"Garden notes.\n\nWater the tomato seedlings every morning before nine.\n",
    "photo.png": PNG_BYTES + bytes(64),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def ingested(
    database_url: str, workdir: Path
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``docrag ingest`` of a folder, run twice."""
    folder = workdir / "inbox"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    first = run_cli(database_url, workdir, "ingest", str(folder), "--collection", COLLECTION)
    second = run_cli(database_url, workdir, "ingest", str(folder), "-c", COLLECTION)
    return first, second


def test_help_lists_the_commands(database_url: str, workdir: Path) -> None:
    result = run_cli(database_url, workdir, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "ingest", "worker", "ask", "search", "keys", "eval"):
        assert command in result.stdout


def test_ingest_reports_new_files_and_typed_failures(
    ingested: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]],
) -> None:
    first, _ = ingested
    assert first.returncode == 0, first.stderr
    assert "2 new, 0 already stored, 1 failed" in first.stdout
    failure = [line for line in first.stdout.splitlines() if "failed" in line and "photo.png" in line]
    assert len(failure) == 1, first.stdout
    assert "ocr_disabled" in failure[0]  # an image, while OCR is off (the default)
    # The very first start against an empty database shows the bootstrap admin key once.
    assert re.search(r"shown once\): drg_\S+", first.stdout), first.stdout


def test_ingest_again_stores_nothing_new(
    ingested: tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]],
) -> None:
    _, second = ingested
    assert second.returncode == 0, second.stderr
    assert "0 new, 2 already stored, 1 failed" in second.stdout
    assert "drg_" not in second.stdout


def test_ingest_of_only_unreadable_files_fails(database_url: str, workdir: Path, ingested: object) -> None:
    bad = workdir / "bad.png"
    bad.write_bytes(PNG_BYTES)
    result = run_cli(database_url, workdir, "ingest", str(bad), "-c", COLLECTION)
    assert result.returncode == 1
    assert "0 new, 0 already stored, 1 failed" in result.stdout

    missing = run_cli(database_url, workdir, "ingest", str(workdir / "nope"), "-c", COLLECTION)
    assert missing.returncode == 2
    assert "no such file or folder" in missing.stderr


def test_ingest_no_wait_only_queues_and_a_rerun_ingests(
    database_url: str, workdir: Path, ingested: object
) -> None:
    folder = workdir / "later"
    folder.mkdir()
    (folder / "a.md").write_bytes(b"# Quarry\n\nThe Pellworth quarry closed in 1962.\n")
    (folder / "b.txt").write_bytes(b"The Pellworth ferry sails at seven every morning.\n")
    queued = run_cli(database_url, workdir, "ingest", str(folder), "-c", "later", "--no-wait")
    assert queued.returncode == 0, queued.stderr
    assert "2 queued, 0 already stored, 0 failed" in queued.stdout
    # No worker ran: nothing is searchable yet.
    before = run_cli(database_url, workdir, "search", "Pellworth quarry", "-c", "later")
    assert before.returncode == 0 and before.stdout.strip() == "", before.stdout

    resumed = run_cli(database_url, workdir, "ingest", str(folder), "-c", "later")
    assert resumed.returncode == 0, resumed.stderr
    assert "2 new, 0 already stored, 0 failed" in resumed.stdout
    after = run_cli(database_url, workdir, "search", "Pellworth quarry", "-c", "later", "--limit", "1")
    assert "Quarry" in after.stdout


def test_search_prints_the_matching_title(database_url: str, workdir: Path, ingested: object) -> None:
    result = run_cli(
        database_url, workdir, "search", "descaling the kettle", "-c", COLLECTION, "--limit", "1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "Kettle Manual" in lines[0]
    assert "Ravenbrook" in lines[0]


def test_ask_prints_an_answer_with_citations(database_url: str, workdir: Path, ingested: object) -> None:
    result = run_cli(
        database_url, workdir, "ask", "How often should the Ravenbrook kettle be descaled?", "-c", COLLECTION
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "every four weeks" in out
    assert re.search(r"\[1\]$", out.splitlines()[0]), out
    citation = [line for line in out.splitlines() if line.startswith("[1] ")]
    assert citation, out
    assert "Kettle Manual" in citation[0]
    assert re.search(r"chars \d+-\d+\)$", citation[0])


def test_ask_abstains_on_an_unanswerable_question(database_url: str, workdir: Path, ingested: object) -> None:
    result = run_cli(database_url, workdir, "ask", "Who won the 1998 football world cup?", "-c", COLLECTION)
    assert result.returncode == 0, result.stderr
    assert "I don't know" in result.stdout
    assert "closest:" in result.stdout


def test_ask_on_a_missing_collection_fails(database_url: str, workdir: Path, ingested: object) -> None:
    result = run_cli(database_url, workdir, "ask", "anything at all?", "-c", "no-such-collection")
    assert result.returncode != 0
    assert "no-such-collection" in result.stderr
    assert "not found" in result.stderr


def test_missing_collection_prints_a_clean_error(database_url: str, workdir: Path, ingested: object) -> None:
    for command in ("ask", "search"):
        result = run_cli(database_url, workdir, command, "anything", "-c", "no-such-collection")
        assert result.returncode == 4  # exits.NOT_FOUND
        assert "Traceback" not in result.stderr
        assert "error [collection_not_found]" in result.stderr


def test_keys_create_prints_a_new_key(database_url: str, workdir: Path, ingested: object) -> None:
    result = run_cli(database_url, workdir, "keys", "create", "--role", "reader", "--name", "ci")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("drg_")
    assert len(key) > 30

    bad = run_cli(database_url, workdir, "keys", "create", "--role", "owner")
    assert bad.returncode == 2
    assert "role must be" in bad.stderr


def test_documents_and_collections_work_locally_too(
    database_url: str, workdir: Path, ingested: object
) -> None:
    listed = run_cli(database_url, workdir, "documents", "list", "-c", COLLECTION)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.strip().splitlines()
    assert len(rows) == 2 and any("Kettle Manual (kettle.md)" in row for row in rows), listed.stdout
    unknown = run_cli(database_url, workdir, "documents", "show", "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 4 and "error [document_not_found]" in unknown.stderr

    assert run_cli(database_url, workdir, "collections", "create", "local-made").returncode == 0
    collections = run_cli(database_url, workdir, "collections", "list")
    assert re.search(r"^handbook  2 documents ", collections.stdout, re.M), collections.stdout
    assert re.search(r"^local-made  0 documents ", collections.stdout, re.M), collections.stdout
    deleted = run_cli(database_url, workdir, "collections", "delete", "local-made", "-y")
    assert deleted.returncode == 0, deleted.stderr
    assert "local-made" not in run_cli(database_url, workdir, "collections", "list").stdout
