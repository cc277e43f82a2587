"""The suite's layout (tests/README.md): tests/unit, tests/integration and tests/e2e, each test
marked by its folder; tests/support holds the helpers and these fixture plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["docrag_stack", "ci_strict", "suite_order", "erasure_checks"]

LAYERS = ("unit", "integration", "e2e")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test ``unit``, ``integration`` or ``e2e`` by the folder it lives in, so that
    ``pytest -m unit`` runs the fast, in-process part."""
    for item in items:
        layer = item.path.relative_to(HERE).parts[0] if item.path.is_relative_to(HERE) else None
        if layer not in LAYERS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live in tests/unit, tests/integration or tests/e2e"
            )
        item.add_marker(getattr(pytest.mark, layer))
