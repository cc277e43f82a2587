"""CPU per request: what one uncached search (or ask) costs the API process and PostgreSQL.

    python bench/load/cpu.py --data-dir /tmp/scale-100k [--kind search] [--clients 4] [--requests 400]
    python bench/load/cpu.py --data-dir /tmp/scale-100k --py-spy /tmp/search.txt   # where it goes

It starts ``docrag serve`` on the data dir (as run.py does; rate limits off; ``--env`` passes
settings such as ``DOCRAG_SERVE_WORKERS=2``), warms it up, then sends ``--requests`` distinct queries
(a counter in the text, so no cache answers) from ``--clients`` concurrent clients, and prints the
CPU seconds the server's processes (the API process and any worker processes it started) and
PostgreSQL's processes used meanwhile, per request. CPU time is the robust figure on a shared
machine: wall-clock throughput moves with whatever else runs, CPU per request hardly does, and
``cores * 1000 / (CPU ms per request)`` bounds the throughput the cores can give.

With ``--py-spy FILE`` the server is sampled meanwhile (py-spy) and the samples are summed by
stage (:data:`STAGES`, the innermost match of each stack), printed as shares; FILE holds the
collapsed stacks. py-spy's samples are not CPU: a thread waiting for PostgreSQL inside psycopg's
C code counts as active, and ONNX Runtime's own threads are not seen at all. For CPU by stage,
``bench/load/stages.py`` meters each call.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import psutil  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import server  # a script beside this one

TOPICS = [f"what does section {n} say about topic {n % 37}" for n in range(200)]
#: ``--questions words``: bench/scale.py's own search queries (3 content words each, Zipf-drawn),
#: spread over the corpus where TOPICS's templates are alike; filled in main().
WORDS: list[str] = []
_counter = itertools.count()

#: Stages by a function in the stack (file:function, substring match): the first that matches,
#: innermost frame outwards, names the sample's stage.
STAGES = (
    ("query embedding", ("embed_batch", "run_encoder", "encode_batch")),
    ("BM25 lexical", ("lexical.py:search", "bm25.py:", "LexicalIndexes")),
    ("dense (pgvector)", ("dense_search",)),
    ("sentence scores", ("_with_sentences", "sentence_vectors")),
    ("feedback vectors", ("_feedback",)),
    ("vector cache", ("vector_cache.py",)),
    ("scopes", ("scopes",)),
    ("fusion", ("fusion.py",)),
    ("hits fetch", ("chunk_search.py:hits", "_hit")),
    ("collection lookup", ("collection_by_name",)),
    ("auth", ("guard.py", "auth.py", "keystore", "keys.py", "identity")),
    ("response JSON", ("serialize_response", "jsonable_encoder", "model_validate", "render", "dump")),
    ("answering", ("answering/",)),
    ("metrics/middleware", ("observability", "admission.py", "instruments", "middleware")),
    ("HTTP/uvicorn/asyncio", ("uvicorn", "h11", "httptools", "asyncio", "anyio", "starlette")),
)


def _pg_processes(data_dir: Path) -> list[psutil.Process]:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def _cpu(processes: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in processes:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings; a process new since ``before`` counts from zero."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def _vector_cache(url: str) -> dict[str, float]:
    """The server's vector cache lookups so far (``docrag_vector_cache_lookups_total``), by result."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = {"hit": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("docrag_vector_cache_lookups_total{"):
            labels, _, value = line.rpartition(" ")
            found["hit" if 'result="hit"' in labels else "miss"] += float(value)
    return found


def _body(kind: str) -> dict[str, object]:
    n = next(_counter)
    text = WORDS[n % len(WORDS)] if WORDS else f"{TOPICS[n % len(TOPICS)]} {next(_counter)}"
    if kind == "ask":
        return {"question": text, "collections": ["scale-main"]}
    return {"query": text, "collections": ["scale-main"]}


async def _drive(url: str, key: str, kind: str, clients: int, requests: int) -> tuple[list[float], int]:
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    failed = 0
    remaining = itertools.count()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def loop() -> None:
            nonlocal failed
            while next(remaining) < requests:
                start = time.perf_counter()
                r = await client.post(f"/v1/{kind}", json=_body(kind))
                latencies.append(time.perf_counter() - start)
                failed += r.status_code != 200

        await asyncio.gather(*(loop() for _ in range(clients)))
    return latencies, failed


def summarise(collapsed: Path) -> list[tuple[str, int]]:
    """Samples per stage from py-spy's raw (collapsed) output: ``frame;frame;... count`` lines."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")
        stage = "other"
        for frame in reversed(frames):
            # py-spy frames read "function (path/file.py:line)"
            name, _, where = frame.partition(" (")
            key = f"{where.rsplit('/', 1)[-1].split(':')[0]}:{name}"
            found = next((s for s, marks in STAGES if any(m in key or m in where for m in marks)), None)
            if found:
                stage = found
                break
        counts[stage] += int(n)
    return counts.most_common()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a corpus made by bench/scale.py")
    parser.add_argument("--kind", choices=("search", "ask"), default="search")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warm", type=int, default=40, help="requests before measuring")
    parser.add_argument(
        "--questions",
        choices=("topics", "words"),
        default="topics",
        help="topics: one template over 37 topics, each made distinct by a number (alike questions);"
        " words: 3 Zipf-drawn content words each, bench/scale.py's queries (spread over the corpus)",
    )
    parser.add_argument("--py-spy", type=Path, help="sample the server into this file (collapsed stacks)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    if args.questions == "words":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from scale import text_queries  # bench/scale.py

        WORDS.extend(dict.fromkeys(text_queries(4 * (args.warm + args.requests))))  # distinct ones
    with server(args.data_dir, env) as (url, key, pid):
        api = psutil.Process(pid)
        asyncio.run(_drive(url, key, args.kind, args.clients, args.warm))
        spy = None
        if args.py_spy:
            spy_bin = Path(sys.executable).parent / "py-spy"
            spy = subprocess.Popen(
                [str(spy_bin), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(args.py_spy),
                 "--subprocesses", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        servers = [api, *api.children(recursive=True)]
        postgres = _pg_processes(args.data_dir)
        cache_before = _vector_cache(url)
        before_api, before_pg = _cpu(servers), _cpu(postgres)
        wall = time.perf_counter()
        latencies, failed = asyncio.run(_drive(url, key, args.kind, args.clients, args.requests))
        wall = time.perf_counter() - wall
        api_s = _spent(before_api, _cpu([api, *api.children(recursive=True)]))
        pg_s = _spent(before_pg, _cpu(_pg_processes(args.data_dir)))
        cache = {k: v - cache_before[k] for k, v in _vector_cache(url).items()}
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
    n = len(latencies)
    ms = np.array(latencies) * 1000
    api_ms, pg_ms = api_s * 1000 / n, pg_s * 1000 / n
    cores = psutil.cpu_count()
    print(
        f"{args.kind}: {n} distinct requests, {args.clients} clients, {failed} not 200;"
        f" {n / wall:.1f}/s wall, p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"CPU ms per {args.kind}: API {api_ms:.1f}, PostgreSQL {pg_ms:.1f}, total {api_ms + pg_ms:.1f}"
        f" -> at most {cores * 1000 / (api_ms + pg_ms):.0f}/s on {cores} cores"
    )
    if looked_up := cache["hit"] + cache["miss"]:
        print(
            f"vector cache (DOCRAG_VECTOR_CACHE_MB): {cache['hit'] / looked_up:.1%} of"
            f" {looked_up / n:.0f} chunks per {args.kind} found in memory"
        )
    else:
        print("vector cache: off (DOCRAG_VECTOR_CACHE_MB=0)")
    if args.py_spy and args.py_spy.exists():
        stages = summarise(args.py_spy)
        total = sum(c for _, c in stages) or 1
        lines = [f"  {stage:<22}{c / total:>6.1%}" for stage, c in stages]
        print("API threads' samples by stage (py-spy; waits on PostgreSQL count):\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
