"""What collection scopes (docs/keys.md, migration 0100) cost a search and a key lookup, in-process.

    python bench/scope_overhead.py --n 300

Starts an embedded PostgreSQL in a temporary folder (the service's role is bound by row security),
indexes a few small documents into two collections, then searches round-robin in three modes so
that drift on a busy machine hits all alike: ``unscoped`` (an ordinary key: the restrictive
policies are in place but their initplan finds no scope), ``scoped`` (the request's scope holds
one collection: WHERE clauses and policies filter), and ``no_policies`` (migration 0100's three
restrictive policies dropped by the owner for that search: the cost they add). Prints p50/p95 per
mode, their p95 differences, and the p95 of an API key's lookup (``principal_for_key``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

from docrag.ingest.pipeline import Upload
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from docrag.store.roles import OWNER_ROLE, with_user
from docrag.store.tenancy import collection_scope

TOPICS = ["bees and honey", "rivers and floods", "volcanoes", "tea harvests", "glaciers", "printing presses"]
POLICIES = ("collections", "documents", "chunks")
_RECREATE = {
    "collections": "id",
    "documents": "collection_id",
    "chunks": "collection_id",
}


def _set_policies(owner: psycopg.Connection[tuple[object, ...]], present: bool) -> None:
    for table in POLICIES:
        if present:
            column = _RECREATE[table]
            owner.execute(
                f"CREATE POLICY collection_scope ON {table} AS RESTRICTIVE USING ((SELECT docrag_scope())"
                f" IS NULL OR {column} = ANY ((SELECT docrag_scope())::uuid[]))"
            )
        else:
            owner.execute(f"DROP POLICY collection_scope ON {table}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="searches per mode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docrag-bench-scope-") as folder:
        settings = Settings(data_dir=Path(folder), inprocess_worker=False, answer_cache_seconds=0)
        runtime = Runtime.open(settings)
        try:
            assert runtime.embedded is not None
            owner_url = with_user(runtime.embedded.url("docrag"), OWNER_ROLE)
            tenant = runtime.default_tenant
            collections = [runtime.collection(tenant, name, create=True) for name in ("one", "two")]
            for i, topic in enumerate(TOPICS):
                text = f"# {topic}\n\n" + " ".join(f"Sentence {j} is about {topic}." for j in range(60))
                runtime.ingest_now.ingest(collections[i % 2], Upload(text.encode(), f"doc{i}.md"))
            key = new_api_key()
            runtime.store.add_api_key(tenant, "bench", key, "reader")
            scope = frozenset({collections[0].id})
            times: dict[str, list[float]] = {"unscoped": [], "scoped": [], "no_policies": []}
            with psycopg.connect(owner_url, autocommit=True) as owner:
                for i in range(args.n + 20):
                    query = TOPICS[i % len(TOPICS)]
                    for mode in times:
                        if mode == "no_policies":
                            _set_policies(owner, present=False)
                        token = collection_scope.set(scope if mode == "scoped" else None)
                        try:
                            t0 = time.perf_counter()
                            runtime.retriever.search(tenant, [collections[0].id], query, limit=10)
                            elapsed = time.perf_counter() - t0
                        finally:
                            collection_scope.reset(token)
                            if mode == "no_policies":
                                _set_policies(owner, present=True)
                        if i >= 20:  # the first rounds warm up
                            times[mode].append(elapsed)
            lookups = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                runtime.store.principal_for_key(key)
                lookups.append(time.perf_counter() - t0)
        finally:
            runtime.close()

    def ms(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)) * 1000, 3)

    report: dict[str, float | int] = {"searches_per_mode": args.n}
    for mode, values in times.items():
        report[f"{mode}_p50_ms"] = ms(values, 50)
        report[f"{mode}_p95_ms"] = ms(values, 95)
    report["policies_add_p95_ms"] = round(report["unscoped_p95_ms"] - report["no_policies_p95_ms"], 3)
    report["scope_adds_p95_ms"] = round(report["scoped_p95_ms"] - report["unscoped_p95_ms"], 3)
    report["api_key_lookup_p95_ms"] = ms(lookups, 95)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
