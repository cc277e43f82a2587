"""Where the tests find the repository and the evaluation data, wherever the test file lives."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
SHARED_DATA = ROOT.parent / "shared" / "data"  # evaluation data, next to the repository (not in it)
DOCS = SHARED_DATA / "docs"
ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored: screenshots and the like
