"""CPU per stage of an uncached search: the Retriever's own calls, each metered.

    python bench/load/stages.py --data-dir /tmp/scale-100k [--queries 300]

Opens a :class:`~docrag.services.Runtime` on a ``bench/scale.py`` corpus and runs ``--queries``
distinct searches in ``scale-main`` through a :class:`~docrag.retrieval.hybrid.Retriever` built
from the runtime's own store, embedder and BM25 indexes, each wrapped so that every call is
metered: this process's CPU (``time.process_time``, so ONNX Runtime's threads count) and
PostgreSQL's (its processes' CPU, read with psutil; 10 ms ticks, so only the mean over many calls
means anything). One client, the lexical leg run inline: stages do not overlap. Prints CPU ms per
search by stage; what the HTTP layer adds (auth, collection lookup, JSON, uvicorn) is what
``bench/load/cpu.py`` measures beyond this total. The vector cache (``DOCRAG_VECTOR_CACHE_MB``) is as
the environment sets it: with ``DOCRAG_VECTOR_CACHE_MB=0`` every candidate's vectors come from PostgreSQL.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]

from docrag.retrieval.hybrid import Retriever
from docrag.services import Runtime
from docrag.settings import Settings

T = TypeVar("T")


class Meter:
    def __init__(self, pgdata: Path) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.pg: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        self._pg = [postmaster, *postmaster.children(recursive=True)]

    def _pg_cpu(self) -> float:
        total = 0.0
        for p in self._pg:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def run(self, stage: str, fn: Callable[[], T]) -> T:
        pg = self._pg_cpu()
        cpu = time.process_time()
        try:
            return fn()
        finally:
            self.cpu[stage] += time.process_time() - cpu
            self.pg[stage] += self._pg_cpu() - pg
            self.calls[stage] += 1


class Metered:
    """Every method call of ``inner`` named in ``stages`` is metered under that stage's name."""

    def __init__(self, inner: Any, meter: Meter, stages: dict[str, str]) -> None:
        self._inner, self._meter, self._stages = inner, meter, stages

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        stage = self._stages.get(name)
        if stage is None or not callable(attr):
            return attr
        return lambda *a, **k: self._meter.run(stage, lambda: attr(*a, **k))


class Inline(Executor):
    """Runs each task at once in the caller's thread: stages then do not overlap."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


STORE_STAGES = {
    "scopes": "scopes (collections read)",
    "dense_search": "dense (pgvector HNSW)",
    "sentence_vectors": "sentence vectors read",
    "chunk_vectors": "candidates' vectors read (both)",
    "hits": "hits fetch",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--collection", default="scale-main")
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, answer_cache_seconds=0, inprocess_worker=False)
    runtime = Runtime.open(settings)
    try:
        tenant = runtime.default_tenant
        collection = runtime.store.collection_by_name(tenant, args.collection).id
        meter = Meter(args.data_dir / "postgres")
        retriever = Retriever(
            Metered(runtime.store, meter, STORE_STAGES),
            Metered(runtime.embedder, meter, {"embed_batch": "query embedding"}),
            Metered(runtime.lexical, meter, {"search": "BM25 lexical"}),
            settings,
            reranker=runtime.reranker,
            exact=runtime.exact,
            pool=Inline(),
        )
        for n in range(20):  # warm: the BM25 index, the model, PostgreSQL's caches
            retriever.search(tenant, [collection], f"warming query {n} about section {n}")
        meter.cpu.clear(), meter.pg.clear(), meter.calls.clear()
        for n in range(args.queries):
            retriever.search(tenant, [collection], f"what does section {n} say about topic {n % 37}")
        # The whole search again, unmetered inside (reading PostgreSQL's CPU costs this process
        # some too), on other distinct queries: what the stages leave is fusion and blending.
        plain = Retriever(
            runtime.store,
            runtime.embedder,
            runtime.lexical,
            settings,
            reranker=runtime.reranker,
            exact=runtime.exact,
            pool=Inline(),
        )
        meter.run(
            "whole search",
            lambda: [
                plain.search(tenant, [collection], f"what does part {n} say about subject {n % 37}")
                for n in range(args.queries)
            ],
        )
    finally:
        runtime.close()
    q = args.queries
    print(f"CPU ms per uncached search, {q} distinct queries in {args.collection}, one client")
    print(f"  {'stage':<26}{'calls':>6}{'Python':>9}{'PG':>8}{'total':>8}")
    inner = [s for s in meter.cpu if s != "whole search"]
    stages = sorted(inner, key=lambda s: -(meter.cpu[s] + meter.pg[s]))
    for stage in stages:
        cpu, pg = meter.cpu[stage] * 1000 / q, meter.pg[stage] * 1000 / q
        print(f"  {stage:<26}{meter.calls[stage] / q:>6.1f}{cpu:>9.2f}{pg:>8.2f}{cpu + pg:>8.2f}")
    inner_cpu = sum(meter.cpu[s] for s in stages) * 1000 / q
    inner_pg = sum(meter.pg[s] for s in stages) * 1000 / q
    whole_cpu, whole_pg = meter.cpu["whole search"] * 1000 / q, meter.pg["whole search"] * 1000 / q
    rest_cpu, rest_pg = whole_cpu - inner_cpu, whole_pg - inner_pg
    print(f"  {'fusion, blending, rest':<26}{'':>6}{rest_cpu:>9.2f}{rest_pg:>8.2f}{rest_cpu + rest_pg:>8.2f}")
    print(f"  {'whole search':<26}{'':>6}{whole_cpu:>9.2f}{whole_pg:>8.2f}{whole_cpu + whole_pg:>8.2f}")


if __name__ == "__main__":
    main()
