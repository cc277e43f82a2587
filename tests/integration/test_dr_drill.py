"""The disaster-recovery drill, run for real by scripts/dr-drill.sh on a small corpus: its own
embedded PostgreSQL and `docrag serve` on loopback, a writer uploading over HTTP, a backup while
the writes go on, the data folder deleted, `docrag restore`, the service back. Every write
acknowledged before the backup's snapshot is there afterwards, the ones acknowledged after the
backup are really gone (the data was destroyed, not just restarted), and the service takes
writes again. With --pitr (the WAL streamed synchronously) no acknowledged write is lost."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paths import ROOT


@pytest.fixture(scope="module")
def corpus() -> Iterator[Path]:
    """1000 chunks loaded once (the model embeds its topic centres, a new PostgreSQL is made):
    each drill copies it into a folder of its own (data, backups, streamed WAL) and destroys
    only that copy. Outside pytest's basetemp: a concurrent pytest run resets the mode of
    /tmp/pytest-of-<user> to 0700, and the embedded server's OS user then loses its way in."""
    with tempfile.TemporaryDirectory(prefix="docrag-dr-corpus-") as folder:
        built = Path(folder) / "corpus"
        load = [sys.executable, str(ROOT / "scripts" / "dr_drill.py"), "load", "--chunks", "1000"]
        done = subprocess.run(
            [*load, "--data-dir", str(built)], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        yield built


@pytest.fixture
def data() -> Iterator[Path]:
    """A data folder outside pytest's basetemp (see ``corpus``)."""
    with tempfile.TemporaryDirectory(prefix="docrag-dr-test-") as folder:
        yield Path(folder) / "dr"


def drill(corpus: Path, data: Path, *options: str) -> tuple[str, dict[str, Any]]:
    """Run the drill on a copy of the corpus; its output and the summary it printed. Each write
    phase lasts until 2 of its writes are acknowledged: enough for every count below to be
    checked, and one of them missing fails it."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "dr-drill.sh"), "--corpus", str(corpus), "--data-dir", str(data),
         "--phase-writes", "2", *options],
        capture_output=True, text=True, timeout=540, check=False,
        env={**os.environ, "PYTHON": sys.executable},
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-4000:]
    assert re.search(r"^RPO: \d+ acknowledged writes lost, \d+\.\d s of writes", out, re.M)
    assert "DR drill: PASS" in out
    # The script cleans up after itself: no data folder, no backups left; the corpus it copied
    # is as it was (its server stopped), for the next drill.
    assert not data.exists() and not Path(f"{data}-backups").exists()
    assert not (corpus / "postgres" / "postmaster.pid").exists()
    found = re.search(r"^summary (\{.*\})$", out, re.M)
    assert found is not None, out
    summary: dict[str, Any] = json.loads(found.group(1))
    assert 0 < sum(summary["rto_steps_seconds"].values()) <= summary["rto_seconds"] + 0.2
    return out, summary


def test_dr_drill_reports_rto_and_rpo_and_keeps_every_write_before_the_backup(
    corpus: Path, data: Path
) -> None:
    out, summary = drill(corpus, data)
    assert re.search(
        r"^RTO: \d+\.\d s = stop and delete .* docrag restore .* start until searching", out, re.M
    )
    acked, lost = summary["acknowledged"], summary["lost"]
    # Written before the backup's snapshot: all back.
    assert acked["before backup"] > 0 and lost["before backup"] == 0
    # Acknowledged after the backup finished: gone with the destroyed data, and counted as RPO.
    assert acked["after backup"] > 0 and lost["after backup"] == acked["after backup"]
    assert summary["rpo_writes"] == sum(lost.values()) >= acked["after backup"]
    assert summary["rpo_seconds"] > 0
    # The service is back: it searched, and took (and kept) writes after the restore.
    assert acked["after restore"] > 0 and lost["after restore"] == 0


def test_dr_drill_with_streamed_wal_loses_no_acknowledged_write(corpus: Path, data: Path) -> None:
    """--pitr: a base backup and the WAL streamed synchronously; the disaster is a crash
    (SIGKILL of PostgreSQL), and every write acknowledged before it comes back: RPO 0."""
    out, summary = drill(corpus, data, "--pitr")
    assert re.search(r"^RTO: \d+\.\d s = stop and delete .* base backup and WAL copied .*", out, re.M)
    acked, lost = summary["acknowledged"], summary["lost"]
    assert acked["before backup"] > 0 and acked["after backup"] > 0 and acked["after restore"] > 0
    assert summary["rpo_writes"] == 0 and sum(lost.values()) == 0
