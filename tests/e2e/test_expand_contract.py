"""Expand/contract: during a blue-green deploy the live release ("blue") serves from the schema
the new one migrated. Proven here with the real previous release: the code as it was just before
the newest migration was added (git archive of that commit's src/), served by a real uvicorn
against a database migrated by this checkout, uploads, searches and answers; and this checkout
reads what it wrote. Also the guard scripts/deploy-production.sh runs on new migrations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from docrag.settings import Settings
from docrag.store import expand_guard
from paths import ROOT

MIGRATIONS = ROOT / "src" / "docrag" / "store" / "migrations"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """src/ of the commit before the one that added the newest migration: the release a deploy of
    this schema replaces."""
    try:
        newest = _git("log", "-1", "--format=%H", "--", "src/docrag/store/migrations").strip()
        _git("cat-file", "-e", f"{newest}^")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"this test needs the git history (not a shallow copy): {exc}")
    folder = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", f"{newest}^", "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def test_the_previous_release_lacks_a_migration_this_one_has(previous_release: Path) -> None:
    old = {p.name for p in (previous_release / "src/docrag/store/migrations").glob("*.sql")}
    new = {p.name for p in MIGRATIONS.glob("*.sql")}
    assert old < new, "the previous release must have strictly fewer migrations, else this proves nothing"


@pytest.fixture(scope="module")
def old_api(
    previous_release: Path, settings: Settings, runtime: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The previous release's API over the schema this checkout's runtime migrated."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(previous_release / "src"),
        "DOCRAG_DATABASE_URL": settings.database_url,
        "DOCRAG_DATA_DIR": str(tmp_path_factory.mktemp("old-data")),
    }
    if settings.database_owner_url:
        env["DOCRAG_DATABASE_OWNER_URL"] = settings.database_owner_url
    log = tmp_path_factory.mktemp("old-log") / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docrag.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        # It runs the previous release's code, not this checkout's.
        assert (
            str(previous_release)
            in subprocess.run(
                [sys.executable, "-c", "import docrag; print(docrag.__file__)"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_previous_release_serves_upload_search_and_ask_on_the_new_schema(
    old_api: str, admin_key: str, client: httpx.Client
) -> None:
    auth = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=old_api, headers=auth, timeout=120) as old:
        up = old.post(
            "/v1/collections/blue/documents",
            params={"wait": "true"},
            files={
                "file": (
                    "tides.md",
                    b"# Tides\n\nSpring tides follow the new and the full moon.\n",
                    "text/plain",
                )
            },
        )
        assert up.status_code == 201, up.text
        doc_id = up.json()["id"]
        hits = old.post("/v1/search", json={"query": "spring tides moon", "collections": ["blue"]})
        assert hits.status_code == 200 and hits.json()["hits"][0]["document_id"] == doc_id
        asked = old.post("/v1/ask", json={"question": "When do spring tides come?", "collections": ["blue"]})
        assert asked.status_code == 200, asked.text
        answer = asked.json()
        assert answer["question"] == "When do spring tides come?" and answer["answer"], answer
    # And the new release (this checkout, in-process) reads what the old one wrote.
    found = client.post("/v1/search", json={"query": "spring tides moon", "collections": ["blue"]})
    assert found.status_code == 200 and found.json()["hits"][0]["document_id"] == doc_id
    stored = client.get(f"/v1/answers/{answer['answer_id']}")
    assert stored.status_code == 200, stored.text


def test_the_guard_passes_expanding_migrations_and_refuses_contracting_ones(tmp_path: Path) -> None:
    live, new = tmp_path / "live", tmp_path / "new"
    live.mkdir()
    new.mkdir()
    (live / "0001_a.sql").write_text("DROP TABLE old_things;")  # already applied: not checked again
    (new / "0001_a.sql").write_text("DROP TABLE old_things;")
    (new / "0002_b.sql").write_text(
        "ALTER TABLE documents ADD COLUMN lang text, ADD COLUMN pages integer NOT NULL DEFAULT 0;\n"
        "CREATE INDEX IF NOT EXISTS documents_lang ON documents (lang);  -- DROP COLUMN in a comment\n"
    )
    assert expand_guard.main([str(live), str(new)]) == 0
    for sql, reason in (
        ("ALTER TABLE documents DROP COLUMN title;", "drops a column"),
        ("ALTER TABLE documents RENAME COLUMN title TO name;", "renames an object or column"),
        ("ALTER TABLE chunks ALTER COLUMN ord TYPE bigint;", "changes a column's type"),
        ("ALTER TABLE documents ALTER COLUMN mime SET NOT NULL;", "makes a column NOT NULL"),
        ("ALTER TABLE documents ADD COLUMN lang text NOT NULL;", "adds a NOT NULL column without a default"),
        ("DROP TABLE conversations;", "drops an object"),
    ):
        assert expand_guard.contract_reasons(sql) == [reason], sql
        (new / "0003_c.sql").write_text(sql)
        assert expand_guard.main([str(live), str(new)]) == 1
        (new / "0003_c.sql").write_text(f"-- contract: release 0.9 stopped reading it\n{sql}")
        assert expand_guard.main([str(live), str(new)]) == 2
        assert expand_guard.main([str(live), str(new), "--allow-contract"]) == 0


def test_the_shipped_migrations_expand_only_but_for_0003() -> None:
    """0003 (embedding dimensions) changed a column's type before blue-green existed; every later
    one only expands, as the rule in docs/deploy.md asks."""
    findings = expand_guard.check(Path("/nonexistent"), MIGRATIONS)
    assert {f.migration for f in findings} == {"0003_embedding_dims.sql"}
