"""The order the xdist workers take the test files in: the slowest first.

With ``--dist loadfile`` each file runs on one worker (its module fixtures are made once), and
xdist hands the files out in collection order (``--no-loadscope-reorder``; its own reordering,
by number of tests, sent the few long single-test files last, and one worker then ran them on
its own for minutes while the other sat idle). Longest first keeps every worker busy to the end.

:data:`SLOW` holds, per file, about how many seconds its tests took in a full run (``CI=true``,
three workers on the 2-core machine: the sum of its tests' times in ``--junitxml``). A file
that takes more than about 15 s belongs in it. Its tests get the ``slow`` marker, so
``pytest -m "not slow"`` is a quicker run. Files not listed follow, those with the most tests first.
"""

from __future__ import annotations

from collections import Counter

import pytest

SLOW = {
    "test_shared_docs_outcomes.py": 117,
    "test_schema_fuzz.py": 106,
    "test_dr_drill.py": 57,
    "test_cli_remote.py": 54,
    "test_cli.py": 49,
    "test_integration_check.py": 49,
    "test_blue_green.py": 48,
    "test_worker_processes.py": 28,
    "test_auth.py": 27,
    "test_web_page.py": 23,
    "test_isolation.py": 19,
    "test_parsers.py": 18,
    "test_hostile_files.py": 16,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_file = Counter(item.path for item in items)
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
    # A stable sort: each file's tests keep their order and stay together.
    items.sort(key=lambda item: (-SLOW.get(item.path.name, 0), -per_file[item.path], str(item.path)))
