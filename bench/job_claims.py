"""What one job claim costs as the queue grows: a claim runs once per job, so its cost must not
grow with the number of jobs queued (draining the queue would be quadratic).

    python bench/job_claims.py --queued 100 --queued 1000 --queued 4000

For each depth: a fresh database (embedded PostgreSQL, or DOCRAG_DATABASE_URL's server), that
many abstract-size uploads queued by ``--tenants`` tenants through the API's own submit path,
then ``--claims`` claims in a row (each handed back, so the depth stays), printing per depth the
mean and p95 milliseconds of a claim, wall and this process's CPU, as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ingest_throughput import admin_database, fresh_database  # bench/ is the script's path

from docrag.ingest.pipeline import Upload
from docrag.jobs.submit import submit
from docrag.services import Runtime
from docrag.settings import Settings


def measure(admin_url: str, queued: int, tenants: int, claims: int) -> dict[str, object]:
    rt = Runtime.open(Settings(database_url=fresh_database(admin_url), inprocess_worker=False))
    try:
        collections = [
            rt.collection(rt.store.ensure_tenant(f"bench-{t}"), "q", create=True) for t in range(tenants)
        ]
        for n in range(queued):
            text = f"# Abstract {n}\n\n" + f"Finding {n} about the measured effect. " * 40
            submit(rt.jobs, rt.ingestor, collections[n % tenants], Upload(text.encode(), f"{n}.md"))
        walls, cpus = [], []
        for n in range(claims):
            wall, cpu = time.perf_counter(), time.process_time()
            job = rt.jobs.claim(f"bench/{n}", 60)
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
            assert job is not None and rt.jobs.hand_back(job)
        walls.sort()
        return {
            "queued": queued,
            "tenants": tenants,
            "claims": claims,
            "claim_ms_mean": round(statistics.fmean(walls), 2),
            "claim_ms_p95": round(walls[int(len(walls) * 0.95) - 1], 2),
            "client_cpu_ms_mean": round(statistics.fmean(cpus), 2),
        }
    finally:
        rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queued", type=int, action="append", help="queue depths (repeatable)")
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--claims", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, admin_database(Path(tmp)) as admin_url:
        for queued in args.queued or [100, 1000, 4000]:
            print(json.dumps(measure(admin_url, queued, args.tenants, args.claims)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
