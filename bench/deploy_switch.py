"""Failed requests and latency across blue-green deploys and rollbacks (local target).

    python bench/deploy_switch.py [--cycles 3] [--threads 4]

Starts an embedded PostgreSQL in a temporary folder, deploys this checkout as blue with
scripts/deploy-production.sh (real nginx and DocRAG processes on loopback), indexes one document,
then, while ``--threads`` clients send /health/ready and /v1/search through nginx (keep-alive),
runs ``--cycles`` times: deploy (to the other colour), 2 s, rollback, 2 s. Prints one JSON object:
requests, failed, p50/p95/max latency, answers per colour, and each deploy's and rollback's seconds.
The load comes from one key and one address, so the rate limits are raised for the run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from bluegreen_load import Load  # noqa: E402
from docrag.services import Runtime  # noqa: E402
from docrag.settings import Settings  # noqa: E402
from docrag.store.embedded import EmbeddedPostgres  # noqa: E402

GENEROUS = "100000/minute"
LIMITS = {
    "DOCRAG_RATE_LIMITS": ",".join(f"{c}={GENEROUS}" for c in ("login", "ask", "search", "upload", "other")),
    "DOCRAG_TENANT_RATE_LIMITS": ",".join(f"{c}={GENEROUS}" for c in ("ask", "search", "upload", "other")),
    "DOCRAG_IP_RATE_LIMITS": f"login={GENEROUS},auth_failure={GENEROUS}",
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    got = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if got.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{got.stderr}")
    return round(time.monotonic() - start, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    deploy = str(ROOT / "scripts/deploy-production.sh")
    rollback = str(ROOT / "scripts/rollback-production.sh")
    with tempfile.TemporaryDirectory(prefix="docrag-deploy-bench-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pg")
        server.start()
        url = server.url("postgres")
        env = {
            **os.environ,
            **LIMITS,
            "DOCRAG_DATABASE_URL": url,
            "DOCRAG_DEPLOY_STATE": f"{folder}/state",
            "DOCRAG_DEPLOY_PORT": str(_port()),
            "DOCRAG_DEPLOY_BLUE_PORT": str(_port()),
            "DOCRAG_DEPLOY_GREEN_PORT": str(_port()),
            "DOCRAG_DEPLOY_PYTHON": sys.executable,
            "DOCRAG_DATA_DIR": f"{folder}/data",
        }
        try:
            runtime = Runtime.open(Settings(database_url=url))
            key = runtime.bootstrap_key
            runtime.close()
            assert key is not None
            env["DOCRAG_API_KEY"] = key  # the health gate compares components, not scores
            first = _timed([deploy, str(ROOT), "local"], env)
            base = f"http://127.0.0.1:{env['DOCRAG_DEPLOY_PORT']}"
            text = b"# Lighthouse keeping\n\nThe lighthouse keeper trims the lamp wick at dusk.\n"
            up = httpx.post(
                f"{base}/v1/collections/handbook/documents",
                params={"wait": "true"},
                files={"file": ("lighthouse.md", text, "text/markdown")},
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            )
            up.raise_for_status()
            deploys: list[float] = []
            rollbacks: list[float] = []
            load = Load(base, key, "handbook", threads=args.threads, max_requests=100_000, max_seconds=1200)
            with load:
                time.sleep(2)
                for _ in range(args.cycles):
                    deploys.append(_timed([deploy, str(ROOT), "local"], env))
                    time.sleep(2)
                    rollbacks.append(_timed([rollback, "local"], env))
                    time.sleep(2)
        finally:
            subprocess.run([deploy, "--stop", "local"], env=env, capture_output=True, timeout=120)
            server.stop()
    times = sorted(o.seconds for o in load.outcomes)
    by_color: dict[str, int] = {}
    for o in load.outcomes:
        by_color[o.color or "-"] = by_color.get(o.color or "-", 0) + 1
    print(
        json.dumps(
            {
                "cycles": args.cycles,
                "threads": args.threads,
                "requests": len(load.outcomes),
                "failed": len(load.failed()),
                "p50_ms": round(1000 * times[len(times) // 2], 1),
                "p95_ms": round(load.p95_ms(), 1),
                "max_ms": round(1000 * times[-1], 1),
                "answered_by": by_color,
                "first_deploy_s": first,
                "deploy_s": deploys,
                "rollback_s": rollbacks,
                "failures": [o.error or o.status for o in load.failed()[:5]],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
