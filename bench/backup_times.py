"""Backup, verify and restore times and sizes on a synthetic corpus.

    python bench/backup_times.py                       # 20k chunks in /tmp/backup-bench-20000
    python bench/backup_times.py --chunks 100000 --data-dir /tmp/scale-100k --skip-load

Loads the corpus exactly as bench/scale.py does (same generator, same layout: 2 tenants, 4
collections, documents of 10 chunks with sentence vectors; HNSW indexes built after the COPY)
into its own embedded PostgreSQL, then runs the commands an operator runs, each as its own
process (so each includes starting the embedded server and, where it asks the fixed queries,
loading the model): ``docrag backup``, ``docrag backup verify`` (checksums, restore into a
scratch server, per-table counts and checksums, the fixed queries' top-10) and ``docrag restore
--yes`` over the live data, after which the database's fingerprint must equal the manifest's.
Prints one JSON object: corpus size, database and dump sizes, and the seconds of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
import scale

from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.backup import read_manifest
from docrag.store.backup_prune import list_backups
from docrag.store.pgtools import fingerprint, open_target

DOCRAG = str(Path(sys.executable).with_name("docrag"))


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([DOCRAG, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"docrag {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    scale.log(f"docrag {' '.join(args)}: {seconds:.1f} s")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=20_000, help="a multiple of 1000")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: /tmp/backup-bench-<chunks>")
    parser.add_argument("--skip-load", action="store_true", help="use the corpus already in --data-dir")
    parser.add_argument("--maintenance-work-mem", default="1GB", help="for the HNSW build of the load")
    parser.add_argument("--build-workers", type=int, default=1)
    parser.add_argument("--load-max-wal-size", default="8GB")
    args = parser.parse_args()
    if args.chunks % 1000:
        parser.error("--chunks must be a multiple of 1000")
    args.data_dir = (args.data_dir or Path(f"/tmp/backup-bench-{args.chunks}")).resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.truncate_external = False
    settings = Settings(data_dir=args.data_dir, answer_cache_seconds=0)
    result: dict[str, Any] = {"chunks": args.chunks, "data_dir": str(args.data_dir), "cpus": os.cpu_count()}

    runtime = Runtime.open(settings)
    try:
        if not args.skip_load:
            runtime.embedder.embed_batch(["warm up"])
            load = scale.load(runtime, scale.layout(runtime), args.chunks, args)
            result["load_seconds"] = {k: v for k, v in load.items() if k.endswith("_s")}
        with psycopg.connect(scale.admin_url(runtime)) as conn:
            row = conn.execute("SELECT pg_database_size(current_database()), count(*) FROM chunks").fetchone()
            assert row is not None
            result["database_bytes"], result["chunks_stored"] = int(row[0]), int(row[1])
    finally:
        runtime.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    env["DOCRAG_DATA_DIR"] = str(args.data_dir)
    root = args.data_dir / "backups"
    steps: dict[str, float] = {}
    steps["backup"], _ = timed(["backup", "--to", str(root)], env)
    folder = list_backups(root)[0].path
    manifest = read_manifest(folder)
    result["backup"] = {
        "folder": str(folder),
        "dump_bytes": sum(f["bytes"] for f in manifest["files"].values()),
        "fixed_queries": len(manifest["searches"]["queries"]),
        "inside_seconds": manifest["timings"],
    }
    steps["verify"], out = timed(["backup", "verify", str(folder)], env)
    result["verify_summary"] = out.strip().splitlines()[-1]
    steps["restore"], _ = timed(["restore", "--yes", str(folder)], env)
    target = open_target(settings)
    try:
        with target.connect() as conn:
            now = fingerprint(conn)
    finally:
        target.close()
    expected = {k: v for k, v in manifest["tables"].items() if k != "backup_runs"}
    now.pop("backup_runs", None)
    result["restored_equals_manifest"] = now == expected
    result["seconds"] = {k: round(v, 1) for k, v in steps.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
