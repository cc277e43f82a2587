"""The order the xdist workers take the test files in: the slowest first.

With ``--dist loadfile`` each file runs on one worker (its module fixtures are made once), and
xdist hands the files out in collection order (``--no-loadscope-reorder``; its own reordering,
by number of tests, sent the few long single-test files last, and one worker then ran them on
its own for minutes while the other sat idle). Longest first keeps both workers busy to the end.

:data:`SLOW` holds, per file, about how many seconds its tests took in a full run (``CI=true``,
two workers, the shared 2-core machine: the sum of its tests' times in ``--junitxml``). A file
that takes more than about 15 s belongs in it. Its tests get the ``slow`` marker, so
``pytest -m "not slow"`` is a quicker run. Files not listed follow, those with the most tests first.
"""

from __future__ import annotations

from collections import Counter

import pytest

SLOW = {
    "test_shared_docs_outcomes.py": 352,
    "test_schema_fuzz.py": 232,
    "test_dr_drill.py": 158,
    "test_cli_remote.py": 127,
    "test_blue_green.py": 127,
    "test_cli.py": 91,
    "test_fuzz_parsers.py": 60,
    "test_worker_processes.py": 57,
    "test_backup.py": 54,
    "test_integration_check.py": 54,
    "test_parsers.py": 50,
    "test_subject_rights.py": 43,
    "test_auth.py": 42,
    "test_db_roles.py": 41,
    "test_isolation.py": 40,
    "test_pitr.py": 39,
    "test_eval_parsing.py": 39,
    "test_hard_unanswerable.py": 37,
    "test_tracing.py": 36,
    "test_hostile_files.py": 34,
    "test_observability.py": 32,
    "test_fair_ingestion.py": 31,
    "test_web_page.py": 40,
    "test_warm_indexes.py": 40,
    "test_read_replica.py": 25,
    "test_lifecycle.py": 23,
    "test_abuse.py": 23,
    "test_retention.py": 23,
    "test_groundedness.py": 22,
    "test_rate_limits_redis.py": 21,
    "test_generated_answers.py": 19,
    "test_jobs.py": 18,
    "test_metrics_settings.py": 18,
    "test_metrics_multiprocess.py": 18,
    "test_auth_mfa.py": 18,
    "test_roles.py": 17,
    "test_api.py": 16,
    "test_restart.py": 16,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    per_file = Counter(item.path for item in items)
    for item in items:
        if item.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
    # A stable sort: each file's tests keep their order and stay together.
    items.sort(key=lambda item: (-SLOW.get(item.path.name, 0), -per_file[item.path], str(item.path)))
