"""Every module imports on its own, and the CLI help is instant (no heavy imports)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import docrag


def test_every_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(docrag.__path__, "docrag.")]
    assert "docrag.api.app" in names and "docrag.store.postgres" in names
    for name in names:
        importlib.import_module(name)


def test_cli_help_does_not_load_models_or_the_database() -> None:
    code = (
        "import sys; from docrag.cli import main; "
        "heavy = [m for m in ('onnxruntime', 'psycopg', 'fastapi', 'scipy') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
