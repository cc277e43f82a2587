"""Mixed load and capacity of a DocRAG server, with locust (headless, loopback only).

    # once: a 100k-chunk corpus in its own embedded PostgreSQL (bench/scale.py's synthetic data)
    python bench/scale.py --chunks 100000 --data-dir /tmp/scale-100k --clients 1
    # 1000 users thinking 20 s on average, 60/30/5/5 search/ask/upload/documents, for 5 minutes
    python bench/load/run.py --data-dir /tmp/scale-100k --users 1000 --duration 300
    # capacity: no think time, more users step by step until p95 passes 2 s (or requests are
    # refused), search then ask, uncached then Zipf-repeated questions
    python bench/load/run.py --data-dir /tmp/scale-100k --capacity

It starts ``docrag serve`` on the data dir (a free loopback port; rate limits off, as a private
benchmark server) unless ``--url`` names a running one (then ``--key`` too), creates the upload
collection, and runs locust as a child process. It prints, per request type, the count, p50, p95
and p99 in ms, errors and 5xx, then the error rate and throughput. With ``--capacity``, for search
and for ask, on distinct questions (uncached) and on the Zipf-repeated set (``--question-sets``):
each step's users, answered requests/s, p95, refusals, the server's CPU ms per answered request
(API processes and PostgreSQL, when this run started the server) and the load average; then the
capacity (the most answered/s with p95 under 2 s and refusals under 0.1%) and where it was passed:
admission control refuses at once (503) rather than let p95 pass 2 s, so refusals end the steps
too. Targets (issue 16): p95 < 2 s for search and ask, error rate < 0.1%, no 5xx.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
COLLECTION = ["scale-main"]  # searched and asked (--collection)
SPAWN_RATE = [10]  # users started per second (--spawn-rate)
LOCUST = [str(BIN / "locust")]  # --locust: locust in another environment (it pins its own deps)
_5XX = re.compile(r"\b5\d\d\b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(data_dir: Path, extra_env: dict[str, str]) -> Iterator[tuple[str, str, int]]:
    """``docrag serve`` on ``data_dir``: its URL, an admin key, and its process id."""
    env = {**os.environ, "DOCRAG_DATA_DIR": str(data_dir), "DOCRAG_RATE_LIMITING": "false", **extra_env}
    key = (
        subprocess.run(
            [str(BIN / "docrag"), "keys", "create", "--role", "admin"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = _free_port()
    # The server's log goes to a file: a pipe nobody reads fills up (64 KiB) and then blocks the
    # server at its next log line, which under load looks exactly like a hung service.
    log = tempfile.NamedTemporaryFile(prefix="docrag-load-server-", suffix=".log", delete=False)  # noqa: SIM115
    print(f"# server log: {log.name}; port {port}", file=sys.stderr)
    proc = subprocess.Popen(
        [str(BIN / "docrag"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("docrag serve did not become ready")
            time.sleep(0.5)
        yield url, key, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:  # still draining connections a load left open
            proc.kill()
            proc.wait(10)
        log.close()


def locust(
    url: str,
    key: str,
    users: int,
    seconds: int,
    think: float,
    tags: list[str],
    out: Path,
    extra_env: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    env = {
        **os.environ,
        "DOCRAG_API_KEY": key,
        "DOCRAG_LOAD_THINK": str(think),
        "DOCRAG_LOAD_COLLECTION": COLLECTION[0],
        **(extra_env or {}),
    }
    # Users arrive at SPAWN_RATE a second (1000 users: over 100 s): each one's first request comes
    # at once, so arriving all together would be a synchronised burst no real audience makes.
    spawn = max(1, min(users, SPAWN_RATE[0]))
    cmd = [
        LOCUST[0], "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
        "-u", str(users), "-r", str(spawn), "-t", f"{seconds}s", "--host", url, "--csv", str(out),
        "--stop-timeout", "30",
    ]  # fmt: skip
    if tags:
        cmd += ["--tags", *tags]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A bench stopped early (Ctrl-C) must not leave locust loading the machine for the rest of its -t.
    atexit.register(_stop, child)
    child.wait()
    with open(f"{out}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=40)  # locust's --stop-timeout is 30 s
        except subprocess.TimeoutExpired:
            child.kill()


def server_errors(out: Path) -> int:
    path = Path(f"{out}_failures.csv")
    if not path.exists():
        return 0
    with open(path, newline="") as f:
        return sum(
            int(r["Occurrences"]) for r in csv.DictReader(f) if " 5" in r["Error"] or "50" in r["Error"][:20]
        )


def report(rows: list[dict[str, str]], out: Path, seconds: int) -> None:
    print(f"{'type':<16}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in rows:
        counts = f"{r['Request Count']:>8}{r['50%']:>9}{r['95%']:>9}{r['99%']:>9}{r['Failure Count']:>8}"
        print(f"{r['Name']:<16}{counts}")
    total = next(r for r in rows if r["Name"] == "Aggregated")
    n, failed = int(total["Request Count"]), int(total["Failure Count"])
    print(
        f"error rate {failed / max(n, 1):.4%} ({failed} of {n}); 5xx {server_errors(out)};"
        f" throughput {float(total['Requests/s']):.1f} requests/s over {seconds} s"
    )
    failures = Path(f"{out}_failures.csv")
    if failures.exists():  # what the errors were, so a run's failures can be told apart
        with open(failures, newline="") as f:
            for r in csv.DictReader(f):
                print(f"  failed {r['Occurrences']}x {r['Method']} {r['Name']}: {r['Error'][:200]}")


class CpuMeter:
    """CPU seconds of the server's processes (the API process and its children: ``--workers``)
    and of the embedded PostgreSQL's, when this run started them; nothing for ``--url``."""

    def __init__(self, server_pid: int | None, data_dir: Path | None) -> None:
        self._pid, self._data_dir = server_pid, data_dir

    def _processes(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        api: list[psutil.Process] = []
        pg: list[psutil.Process] = []
        if self._pid is not None:
            parent = psutil.Process(self._pid)
            api = [parent, *parent.children(recursive=True)]
        pid_file = self._data_dir / "postgres" / "postmaster.pid" if self._data_dir else None
        if pid_file is not None and pid_file.exists():
            postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
            pg = [postmaster, *postmaster.children(recursive=True)]
        return api, pg

    def read(self) -> tuple[dict[int, float], dict[int, float]]:
        api, pg = self._processes()
        return _cpu_of(api), _cpu_of(pg)

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def _cpu_of(processes: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in processes:
        with suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


#: The capacity runs' question sets: distinct questions (the uncached path: every request a
#: retrieval) and the Zipf-repeated set of the mixed load (the caches answer the popular ones).
QUESTION_SETS = {"uncached": {"DOCRAG_LOAD_DISTINCT": "1"}, "zipf": {}}


def capacity(
    url: str, key: str, steps: list[int], seconds: int, workdir: Path, sets: list[str], meter: CpuMeter
) -> None:
    """Step the users up until p95 passes 2 s or requests are refused (admission control answers
    503 at once rather than let p95 grow: a refusal rate over 0.1% is past capacity too). The
    throughput printed is of answered requests (200); p95 is locust's, over every request."""
    cores = psutil.cpu_count()
    summary: list[str] = []
    for name in sets:
        for kind in ("search", "ask"):
            crossed: tuple[float, str] | None = None
            best = 0.0
            print(
                f"-- {kind}, {name} questions: users, answered/s, p95 ms, refused or failed,"
                " server CPU ms per answered request (API + PostgreSQL), load average",
                flush=True,
            )
            for users in steps:
                before = meter.read()
                out = workdir / f"{name}-{kind}-{users}"
                rows = locust(url, key, users, seconds, 0.0, [kind], out, QUESTION_SETS[name])
                after = meter.read()
                row = next(r for r in rows if r["Name"] == kind)
                n, failed = int(row["Request Count"]), int(row["Failure Count"])
                ok = n - failed
                rps = float(row["Requests/s"]) * ok / max(n, 1)
                p95 = float(row["95%"])
                api_ms = meter.spent(before[0], after[0]) * 1000 / max(ok, 1)
                pg_ms = meter.spent(before[1], after[1]) * 1000 / max(ok, 1)
                print(
                    f"   {users:>5} {rps:>8.1f} {p95:>8.0f} {failed:>6} ({failed / max(n, 1):.1%})"
                    f"   {api_ms:>5.1f} + {pg_ms:>5.1f} = {api_ms + pg_ms:>5.1f}   {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                if p95 > 2000 or failed > 0.001 * n:
                    crossed = (rps, "p95 passes 2 s" if p95 > 2000 else f"{failed / n:.1%} refused or failed")
                    break
                best = max(best, rps)
            line = (
                f"{kind}, {name} questions: capacity {best:.1f}/s answered within p95 2 s;"
                f" past it at {users} users ({crossed[1]}, {crossed[0]:.1f}/s answered)"
                if crossed is not None
                else f"{kind}, {name} questions: {best:.1f}/s, p95 under 2 s up to {steps[-1]} users"
            )
            print(f"   {line}", flush=True)
            summary.append(line)
    print(f"-- capacity ({cores} cores, load average now {os.getloadavg()[0]:.1f}):")
    for line in summary:
        print(f"   {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a corpus made by bench/scale.py")
    parser.add_argument("--url", help="a running server instead (needs --key)")
    parser.add_argument("--key")
    parser.add_argument("--collection", default="scale-main", help="searched and asked")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--think", type=float, default=20.0, help="mean think time, seconds")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load")
    parser.add_argument("--capacity", action="store_true", help="step the load with no think time")
    parser.add_argument("--steps", default="4,8,16,32,64,128", help="users per capacity step")
    parser.add_argument("--step-seconds", type=int, default=30)
    parser.add_argument("--question-sets", default="uncached,zipf", help="capacity: uncached and/or zipf")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--locust", default=LOCUST[0], help="the locust executable")
    parser.add_argument("--spawn-rate", type=int, default=10, help="users started per second")
    args = parser.parse_args()
    COLLECTION[0] = args.collection
    SPAWN_RATE[0] = args.spawn_rate
    LOCUST[0] = args.locust
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with _target(args) as (url, key, pid):
            httpx.post(
                f"{url}/v1/collections",
                json={"name": "load-uploads"},
                headers={"Authorization": f"Bearer {key}"},
            )
            if args.capacity:
                steps = [int(s) for s in args.steps.split(",")]
                sets = args.question_sets.split(",")
                capacity(url, key, steps, args.step_seconds, workdir, sets, CpuMeter(pid, args.data_dir))
            else:
                rows = locust(url, key, args.users, args.duration, args.think, [], workdir / "mixed")
                report(rows, workdir / "mixed", args.duration)


@contextmanager
def _target(args: argparse.Namespace) -> Iterator[tuple[str, str, int | None]]:
    if args.url:
        if not args.key:
            raise SystemExit("--url needs --key")
        yield args.url, args.key, None
        return
    if args.data_dir is None:
        raise SystemExit("give --data-dir (a bench/scale.py corpus) or --url and --key")
    env = dict(item.split("=", 1) for item in args.env)
    with server(args.data_dir, env) as (url, key, pid):
        yield url, key, pid


if __name__ == "__main__":
    main()
