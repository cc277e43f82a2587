"""Point-in-time recovery with pgBackRest, run for real by scripts/pitr-drill.sh on a private
cluster of the machine's PostgreSQL: WAL archived, a full backup, the data folder destroyed,
and a restore to a moment between two batches of writes keeps exactly the first batch."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ci_strict import require
from paths import ROOT

PGBIN = Path(os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin"))


def test_pitr_drill_recovers_to_the_target_time() -> None:
    missing = [
        what
        for what, ok in (("pgbackrest", shutil.which("pgbackrest")), ("initdb", (PGBIN / "initdb").is_file()))
        if not ok
    ]
    require(not missing, ", ".join(missing))  # .ci/run installs them
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pitr-drill.sh")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rows after recovery: 1000" in done.stdout
    assert "PITR drill: PASS" in done.stdout
