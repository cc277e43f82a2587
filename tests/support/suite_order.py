"""The order the xdist workers take the test files in: the slowest first.

With ``--dist loadfile`` each file runs on one worker (its module fixtures are made once), and
xdist hands the files out in collection order (``--no-loadscope-reorder``; its own reordering,
by number of tests, sent the few long single-test files last, and one worker then ran them on
its own for minutes while the other sat idle). Longest first keeps both workers busy to the end.

:data:`SLOW` holds, per file, about how many seconds its tests took in a full run (``CI=true``,
two workers, the shared 2-core machine; ``--durations=40``). A file that takes more than about
15 s belongs in it. Its tests get the ``slow`` marker, so ``pytest -m "not slow"`` is a quick run.
Files not listed follow, those with the most tests first.
"""

from __future__ import annotations

from collections import Counter

import pytest

SLOW = {
    "test_schema_fuzz.py": 300,
    "test_shared_docs_outcomes.py": 240,
    "test_cli.py": 170,
    "test_dr_drill.py": 160,
    "test_cli_remote.py": 130,
    "test_blue_green.py": 90,
    "test_parsers.py": 70,
    "test_worker_processes.py": 45,
    "test_isolation.py": 40,
    "test_hard_unanswerable.py": 40,
    "test_pitr.py": 35,
    "test_eval_parsing.py": 32,
    "test_auth.py": 30,
    "test_integration_check.py": 25,
    "test_rate_limits_redis.py": 20,
    "test_db_roles.py": 18,
    "test_expand_contract.py": 16,
    "test_backup.py": 16,
    "test_tracing.py": 15,
    "test_fuzz_parsers.py": 15,
    "test_subject_rights.py": 14,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_file = Counter(item.path for item in items)
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
    # A stable sort: each file's tests keep their order and stay together.
    items.sort(key=lambda item: (-SLOW.get(item.path.name, 0), -per_file[item.path], str(item.path)))
