"""The Python half of scripts/dr-drill.sh (which runs the drill and documents it): a synthetic
corpus, the writer that goes on while the drill destroys and restores, the wait for the service
to come back, and the report of the recovery time (RTO) and the writes lost (RPO).

    python scripts/dr_drill.py load --chunks N --data-dir DIR      # corpus as bench/scale.py builds it
    python scripts/dr_drill.py write --url URL --key KEY --log F --stop-file S [--interval 0.7]
    python scripts/dr_drill.py phase --log F --since T --writes N [--timeout 120]
    python scripts/dr_drill.py wait --url URL --key KEY --collection C [--timeout 900]
    python scripts/dr_drill.py report --url URL --key KEY --log F --backup DIR --destroyed-at T --back-at T

Every write is one small document uploaded over HTTP (``POST /v1/collections/dr-writes/documents``,
answered 202 once the upload and its job are committed): the writer appends one JSON line per
attempt, with the time it was sent and the time it was acknowledged (or the error), so the report
knows exactly which acknowledged writes a restore must bring back.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parents[1] / "bench"
WRITES = "dr-writes"
PHASES = ("before backup", "during backup", "after backup", "after restore")  # when acknowledged


def now() -> float:
    return time.time()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="milliseconds")


# -- load -----------------------------------------------------------------------------------------


def load(args: argparse.Namespace) -> None:
    """Bulk-load ``--chunks`` synthetic chunks with bench/scale.py's generator (COPY, HNSW built
    after), then add the drill's writes collection; embedding 100k chunks with the model would
    take hours on this machine and tells nothing about recovery."""
    sys.path.insert(0, str(BENCH))
    import scale  # type: ignore[import-not-found]  # bench/scale.py

    from docrag.services import Runtime
    from docrag.settings import Settings

    if args.chunks % 1000:
        raise SystemExit("--chunks must be a multiple of 1000")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    args.truncate_external = False
    runtime = Runtime.open(Settings(data_dir=args.data_dir, answer_cache_seconds=0))
    try:
        runtime.embedder.embed_batch(["warm up"])
        result = scale.load(runtime, scale.layout(runtime), args.chunks, args)
        runtime.collection(runtime.default_tenant, WRITES, create=True)
    finally:
        runtime.close()
    print(json.dumps({"chunks": args.chunks, **{k: v for k, v in result.items() if k.endswith("_s")}}))


# -- write ----------------------------------------------------------------------------------------


def write(args: argparse.Namespace) -> None:
    """Upload one small unique document every ``--interval`` seconds until the stop file
    appears (or ``--max-writes``); a write counts as acknowledged only on a 2xx answer."""
    headers = {"Authorization": f"Bearer {args.key}"}
    url = f"{args.url}/v1/collections/{WRITES}/documents"
    n = 0
    with httpx.Client(headers=headers, timeout=args.timeout) as client, args.log.open("a") as out:
        while not args.stop_file.exists() and n < args.max_writes:
            n += 1
            token = uuid.uuid4().hex
            body = f"Drill write {n}. The tracer word is {token}. It was sent at {iso(now())}.\n"
            record: dict[str, Any] = {"n": n, "token": token, "sent_at": now()}
            try:
                answer = client.post(url, files={"file": (f"write-{n:06d}.txt", body.encode(), "text/plain")})
                record["status"] = answer.status_code
                if answer.is_success:
                    record["acked_at"] = now()
                    record["id"] = answer.json()["id"]
            except httpx.HTTPError as exc:
                record["error"] = type(exc).__name__
            out.write(json.dumps(record) + "\n")
            out.flush()
            time.sleep(max(0.0, args.interval - (now() - record["sent_at"])))


def phase(args: argparse.Namespace) -> None:
    """Return once ``--writes`` writes sent since ``--since`` are acknowledged in the writer's log
    (or after ``--timeout``: the report then shows how few there were, and judges)."""
    deadline = now() + args.timeout
    while now() < deadline:
        text = args.log.read_text() if args.log.exists() else ""
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        if sum("acked_at" in r and r["sent_at"] >= args.since for r in records) >= args.writes:
            return
        time.sleep(0.05)


# -- wait -----------------------------------------------------------------------------------------


def service_back(client: httpx.Client, collection: str, query: str) -> tuple[bool, str]:
    """The service answers ready and a search of ``collection`` returns hits."""
    try:
        ready = client.get("/health/ready")
        if ready.status_code != 200:
            return False, f"ready {ready.status_code}"
        found = client.post("/v1/search", json={"query": query, "collections": [collection], "limit": 3})
        if found.status_code != 200:
            return False, f"search {found.status_code}"
        hits = found.json()["hits"]
        return bool(hits), f"search {len(hits)} hits"
    except httpx.HTTPError as exc:
        return False, type(exc).__name__


def wait(args: argparse.Namespace) -> None:
    """Poll until the service is back (ready and searching); print the moment, as epoch seconds."""
    deadline = now() + args.timeout
    last = ""
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"}, timeout=60) as c:
        while now() < deadline:
            ok, last = service_back(c, args.collection, args.query)
            if ok:
                print(f"{now():.3f}")
                return
            time.sleep(args.every)
    raise SystemExit(f"service not back after {args.timeout} s (last: {last})")


# -- report ---------------------------------------------------------------------------------------


def report(args: argparse.Namespace) -> None:
    """Classify every acknowledged write by when it was acknowledged (before the backup's
    snapshot, during the backup, after it) or sent (after the restore) and check it exists now."""
    manifest = json.loads((args.backup / "manifest.json").read_text())
    snapshot = datetime.fromisoformat(manifest["created_at"]).timestamp()  # taken just after this
    finished = datetime.fromisoformat(manifest["finished_at"]).timestamp()
    records = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    acked = [r for r in records if "acked_at" in r]
    phases: dict[str, list[dict[str, Any]]] = {
        "before backup": [],
        "during backup": [],
        "after backup": [],
        "after restore": [],
    }
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"}, timeout=60) as c:
        for r in acked:
            got = c.get(f"/v1/documents/{r['id']}")
            if got.status_code not in (200, 404):
                raise SystemExit(f"GET /v1/documents/{r['id']}: {got.status_code} {got.text[:200]}")
            r["present"] = got.status_code == 200
            # Sent once the restore was done: only the restored service can have taken it. An
            # acknowledgement after the disaster began but for a write sent before the restore
            # came from the old server finishing its requests while it stopped: the old data's.
            if r["sent_at"] >= args.restored_at:
                phase = "after restore"
            elif r["acked_at"] < snapshot:
                phase = "before backup"
            elif r["acked_at"] < finished:
                phase = "during backup"
            else:
                phase = "after backup"
            phases[phase].append(r)
    lost = [r for r in acked if not r["present"]]
    failed = [r for r in records if "acked_at" not in r]
    print(f"writes: {len(records)} sent, {len(acked)} acknowledged, {len(failed)} refused or unanswered")
    print(f"{'acknowledged':<16}{'writes':>8}{'present':>9}{'lost':>6}")
    for phase, rows in phases.items():
        present = sum(r["present"] for r in rows)
        print(f"{phase:<16}{len(rows):>8}{present:>9}{len(rows) - present:>6}")
    rto = args.back_at - args.destroyed_at
    rpo_s = max(r["acked_at"] for r in lost) - snapshot if lost else 0.0
    steps: dict[str, float] = {}
    begin = args.destroyed_at
    for part in args.steps.split(",") if args.steps else []:
        name, _, end = part.rpartition("=")
        steps[name], begin = round(float(end) - begin, 1), float(end)
    print(f"backup: {args.backup.name} (snapshot at {manifest['created_at']})")
    parts = " + ".join(f"{name} {secs:.1f} s" for name, secs in steps.items())
    print(f"RTO: {rto:.1f} s" + (f" = {parts}" if parts else ""))
    print(f"  data destroyed at {iso(args.destroyed_at)}, service back at {iso(args.back_at)}")
    print(
        f"RPO: {len(lost)} acknowledged writes lost, {rpo_s:.1f} s of writes"
        " (acknowledged from the backup's snapshot to the disaster)"
    )
    summary = {
        "rto_seconds": round(rto, 1),
        "rpo_writes": len(lost),
        "rpo_seconds": round(rpo_s, 1),
        "rto_steps_seconds": steps,
        "acknowledged": {k: len(v) for k, v in phases.items()},
        "lost": {k: sum(not r["present"] for r in v) for k, v in phases.items()},
    }
    print("summary " + json.dumps(summary))
    must_survive = phases["before backup"] + phases["after restore"]
    missing = [r for r in must_survive if not r["present"]]
    if missing or not phases["before backup"] or not phases["after restore"]:
        print(f"DR drill: FAIL ({len(missing)} writes that must survive are missing)")
        raise SystemExit(1)
    print("DR drill: PASS")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("load")
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--maintenance-work-mem", default="512MB")
    p.add_argument("--build-workers", type=int, default=1)
    p.add_argument("--load-max-wal-size", default="8GB")
    p.set_defaults(run=load)
    p = sub.add_parser("phase")
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--since", type=float, required=True, help="epoch seconds: the phase's start")
    p.add_argument("--writes", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.set_defaults(run=phase)
    for name, run in (("write", write), ("wait", wait), ("report", report)):
        p = sub.add_parser(name)
        p.add_argument("--url", required=True)
        p.add_argument("--key", required=True)
        p.set_defaults(run=run)
        if name == "write":
            p.add_argument("--log", type=Path, required=True)
            p.add_argument("--stop-file", type=Path, required=True)
            p.add_argument("--interval", type=float, default=0.7)
            p.add_argument("--max-writes", type=int, default=5000)
            p.add_argument("--timeout", type=float, default=10)
        elif name == "wait":
            p.add_argument("--collection", default=WRITES)
            p.add_argument("--query", default="drill write tracer word")
            p.add_argument("--timeout", type=float, default=900)
            p.add_argument("--every", type=float, default=0.1)
        else:
            p.add_argument("--log", type=Path, required=True)
            p.add_argument("--backup", type=Path, required=True)
            p.add_argument("--destroyed-at", type=float, required=True)
            p.add_argument("--back-at", type=float, required=True)
            p.add_argument("--restored-at", type=float, required=True, help="when the restore was done")
            p.add_argument("--steps", default="", help="NAME=END_EPOCH,... : the RTO's parts, in order")
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
