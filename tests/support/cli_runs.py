"""The ``docrag`` command line run as a real subprocess against a test's database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_DATA_DIR": str(cwd / "data"),
        "PYTHONWARNINGS": "error::DeprecationWarning:docrag",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "docrag.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
