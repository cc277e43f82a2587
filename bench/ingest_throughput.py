"""Ingestion throughput, upload to searchable, through the real queue and worker processes.

    python bench/ingest_throughput.py --corpus ../shared/data/scifact/corpus.jsonl \
        --pdf ../shared/data/docs/pypdf_sample_files/009-pdflatex-geotopo/GeoTopo-komprimiert.pdf \
        --workers 1 --workers 2

For each worker count: a fresh database on one embedded PostgreSQL (or DOCRAG_DATABASE_URL's
server), N ``docrag worker`` processes (ONNX Runtime threads split evenly between them), every
abstract uploaded as a Markdown file through the same queue the API uses, then each PDF once the
abstracts are done. It prints, as JSON lines:

- documents/hour and chunks/second from the first upload until the last document is indexed;
- peak memory of each worker process and its parser children (VmHWM);
- where the workers' time went (the stage totals ``docrag worker`` prints when it stops);
- each PDF's pages and its time from upload to searchable.

It finishes with the model alone on the same chunk texts (``--raw-sample`` of them, in full
batches on all cores), measured before the runs and after them (the machine's load moves), and
per run a summary line: documents/hour, the pipeline's chunks/second, the raw model's (the mean
of its two measurements) and ``pipeline_share_of_raw``, the pipeline's rate over the raw one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import psycopg

from docrag.domain import Collection
from docrag.ingest.pipeline import Upload
from docrag.jobs.submit import submit
from docrag.services import Runtime
from docrag.settings import Settings
from docrag.store.embedded import EmbeddedPostgres

_STAGES = re.compile(r"stages: (.*)$")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def abstracts(corpus: Path, limit: int | None) -> list[tuple[str, bytes]]:
    docs = []
    with corpus.open() as f:
        for line in f:
            entry = json.loads(line)
            docs.append((f"{entry['_id']}.md", f"# {entry.get('title', '')}\n\n{entry['text']}\n".encode()))
            if limit and len(docs) == limit:
                break
    return docs


@contextmanager
def admin_database(folder: Path) -> Iterator[str]:
    """An administrator's URL: ``DOCRAG_DATABASE_URL``'s server, else an embedded PostgreSQL
    in ``folder``, stopped at the end."""
    url = os.environ.get("DOCRAG_DATABASE_URL")
    if url:
        yield url
        return
    server = EmbeddedPostgres(folder / "data")
    server.start()
    try:
        yield server.url("postgres")
    finally:
        server.stop()


def fresh_database(admin_url: str) -> str:
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items() if v is not None})


class Workers:
    """N ``docrag worker`` processes on ``url``, each told how many ONNX threads to use."""

    def __init__(self, url: str, count: int, threads: int, log_dir: Path) -> None:
        env = os.environ | {
            "DOCRAG_DATABASE_URL": url,
            "DOCRAG_EMBED_THREADS": str(threads),
            "DOCRAG_JOB_POLL_SECONDS": "0.2",
        }
        self.logs = [log_dir / f"worker-{n}.log" for n in range(count)]
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "docrag.cli", "worker"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=path.open("w"),
            )
            for path in self.logs
        ]
        deadline = time.monotonic() + 120
        while not all("worker started" in p.read_text() for p in self.logs):
            if time.monotonic() > deadline or any(proc.poll() is not None for proc in self.procs):
                raise RuntimeError("workers did not start: " + " | ".join(p.read_text() for p in self.logs))
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the workers and their parser children so far."""
        total = 0.0
        for proc in self.procs:
            parent = psutil.Process(proc.pid)
            for p in [parent, *parent.children(recursive=True)]:
                try:
                    times = p.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
        return total

    def peak_rss_mb(self) -> list[float]:
        """Per worker: its own peak resident memory plus its children's (the parser sandbox)."""
        peaks = []
        for proc in self.procs:
            total = 0.0
            for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
                try:
                    status = Path(f"/proc/{p.pid}/status").read_text()
                except OSError:
                    continue
                found = re.search(r"VmHWM:\s+(\d+) kB", status)
                total += int(found.group(1)) / 1024 if found else 0.0
            peaks.append(round(total, 1))
        return peaks

    def stop(self) -> dict[str, float]:
        """Stop them (SIGTERM drains) and sum the stage seconds they report."""
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=120)
        stages: dict[str, float] = {}
        for path in self.logs:
            for line in path.read_text().splitlines():
                found = _STAGES.search(line)
                if found:
                    for part in found.group(1).split(", "):
                        name, seconds = part.rsplit(" ", 1)
                        stages[name] = stages.get(name, 0.0) + float(seconds.rstrip("s"))
        return {k: round(v, 1) for k, v in stages.items()}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores, idle and I/O wait left out)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def own_cpu_seconds() -> float:
    """This process's CPU seconds (user + system)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def wait_indexed(rt: Runtime, collection: Collection, total: int, started: float) -> float:
    """Seconds from ``started`` until ``total`` documents are final; logs progress."""
    last = 0.0
    while True:
        with rt.store.connection(collection.tenant_id) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('indexed', 'failed')) AS done,"
                " count(*) FILTER (WHERE status = 'failed') AS failed FROM documents"
                " WHERE collection_id = %s",
                (collection.id,),
            ).fetchone()
        assert row is not None
        now = time.monotonic()
        if row["done"] >= total:
            return now - started
        if now - last > 15:
            rate = row["done"] / max(now - started, 1e-9) * 3600
            log(f"{row['done']}/{total} final ({row['failed']} failed), {rate:,.0f} docs/h so far")
            last = now
        time.sleep(0.25)


def run(
    admin_url: str, count: int, docs: list[tuple[str, bytes]], pdfs: list[Path], tmp: Path, threads: int
) -> dict[str, Any]:
    url = fresh_database(admin_url)
    threads = threads or max(1, (os.cpu_count() or 1) // count)
    rt = Runtime.open(
        Settings(database_url=url, inprocess_worker=False, parse_sandbox=False, answer_cache_seconds=0)
    )
    try:
        collection = rt.collection(rt.default_tenant, "bench", create=True)
        workers = Workers(url, count, threads, tmp)
        log(f"{count} worker process(es), {threads} ONNX thread(s) each: uploading {len(docs)} abstracts")
        cpu_at_start = workers.cpu_seconds()  # imports and the model's loading left out
        busy_at_start, own_at_start = machine_busy_seconds(), own_cpu_seconds()
        started = time.monotonic()
        for name, data in docs:
            submit(rt.jobs, rt.ingestor, collection, Upload(data, name))
        enqueued = time.monotonic() - started
        seconds = wait_indexed(rt, collection, len(docs), started)
        worker_cpu = workers.cpu_seconds() - cpu_at_start
        busy, own = machine_busy_seconds() - busy_at_start, own_cpu_seconds() - own_at_start
        with rt.store.connection(collection.tenant_id) as conn:
            row = conn.execute(
                "SELECT count(*) AS chunks FROM chunks WHERE collection_id = %s",
                (collection.id,),
            ).fetchone()
            failed = conn.execute(
                "SELECT count(*) AS n FROM documents WHERE collection_id = %s AND status = 'failed'",
                (collection.id,),
            ).fetchone()
        assert row is not None and failed is not None
        result: dict[str, Any] = {
            "workers": count,
            "onnx_threads_per_worker": threads,
            "documents": len(docs),
            "failed": int(failed["n"]),
            "upload_seconds": round(enqueued, 1),
            "seconds": round(seconds, 1),
            "documents_per_hour": round(len(docs) / seconds * 3600),
            "chunks": int(row["chunks"]),
            "chunks_per_second": round(int(row["chunks"]) / seconds, 1),
            # CPU time does not depend on what else the machine runs as wall time does (PostgreSQL's
            # own CPU time is not in it).
            "worker_cpu_seconds": round(worker_cpu, 1),
            "worker_cpu_ms_per_chunk": round(worker_cpu / max(int(row["chunks"]), 1) * 1000, 1),
            # Where the rest of the machine's CPU went meanwhile: this process (the uploads, the
            # polling) and everything else (PostgreSQL above all); idle is what nobody used.
            "machine_cpu_seconds": {
                "available": round(seconds * (os.cpu_count() or 1), 1),
                "busy": round(busy, 1),
                "workers": round(worker_cpu, 1),
                "uploader": round(own, 1),
                "other": round(busy - worker_cpu - own, 1),
            },
        }
        pdf_results = []
        for pdf in pdfs:
            pdf_coll = rt.collection(rt.default_tenant, f"pdf-{uuid.uuid4().hex[:6]}", create=True)
            start = time.monotonic()
            queued = submit(rt.jobs, rt.ingestor, pdf_coll, Upload(pdf.read_bytes(), pdf.name))
            wait_indexed(rt, pdf_coll, 1, start)
            doc = rt.store.get_document(rt.default_tenant, queued.document.id)
            hits = rt.retriever.search(rt.default_tenant, [pdf_coll.id], doc.title, limit=1)
            pdf_results.append(
                {
                    "pdf": pdf.name,
                    "pages": doc.page_count,
                    "chunks": doc.chunk_count,
                    "status": doc.status,
                    "searchable": bool(hits),
                    "upload_to_searchable_seconds": round(time.monotonic() - start, 1),
                }
            )
        result["peak_worker_rss_mb"] = workers.peak_rss_mb()
        result["worker_stage_seconds"] = workers.stop()
        result["pdfs"] = pdf_results
        return result
    finally:
        rt.close()


def raw_embedding_rate(corpus_docs: list[tuple[str, bytes]], sample: int) -> dict[str, Any]:
    """The model alone on chunk texts like the workers', in full batches on all cores."""
    from docrag.ingest.parsers import ParseLimits, parse
    from docrag.providers.protocol import warm_up
    from docrag.providers.registry import build_embedder
    from docrag.text.tokenizer import count_tokens

    settings = Settings()  # the environment's, as the workers': DOCRAG_EMBEDDER=minilm-fp32 measures float32
    embedder = build_embedder(settings)
    warm_up(embedder)
    from docrag.ingest.chunking import chunk_document

    texts: list[str] = []
    for name, data in corpus_docs:
        drafts = chunk_document(
            parse(data, name, ParseLimits(max_pages=10, max_decompressed_bytes=10**7)),
            max_tokens=settings.chunk_max_tokens,
            target_tokens=settings.chunk_target_tokens,
            count_tokens=count_tokens,
            mode="structural",
        )
        texts.extend(d.contextual_text for d in drafts)
        if len(texts) >= sample:
            break
    texts = texts[:sample]
    tokens = sum(min(256, count_tokens(t)) for t in texts)
    start = time.perf_counter()
    embedder.embed_batch(texts)
    seconds = time.perf_counter() - start
    # The same texts on one ONNX thread, by CPU time: what a worker's one thread could do at best.
    single = build_embedder(settings.model_copy(update={"embed_threads": 1}))
    warm_up(single)
    cpu = time.process_time()
    single.embed_batch(texts)
    cpu = time.process_time() - cpu
    return {
        "raw_model_chunks": len(texts),
        "raw_model_chunks_per_second": round(len(texts) / seconds, 1),
        "raw_model_tokens_per_second": round(tokens / seconds),
        "raw_model_cpu_ms_per_chunk_one_thread": round(cpu / len(texts) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, required=True, help="BEIR corpus.jsonl (SciFact)")
    parser.add_argument("--pdf", type=Path, action="append", default=[], help="A long PDF (repeatable)")
    parser.add_argument("--workers", type=int, action="append", help="Worker processes (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="Only the first N abstracts")
    parser.add_argument("--raw-sample", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="ONNX threads per worker (default: split)")
    args = parser.parse_args()
    docs = abstracts(args.corpus, args.limit)
    raw_before = raw_embedding_rate(docs, args.raw_sample)
    print(json.dumps({"raw_before_runs": raw_before}), flush=True)
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="docrag-bench-ingest-") as tmp,
        admin_database(Path(tmp)) as admin_url,
    ):
        for count in args.workers or [1, 2]:
            results.append(run(admin_url, count, docs, args.pdf, Path(tmp), args.threads))
            print(json.dumps(results[-1]), flush=True)
    raw_after = raw_embedding_rate(docs, args.raw_sample)
    print(json.dumps({"raw_after_runs": raw_after}), flush=True)
    raw = (raw_before["raw_model_chunks_per_second"] + raw_after["raw_model_chunks_per_second"]) / 2
    key = "raw_model_cpu_ms_per_chunk_one_thread"
    raw_cpu = (raw_before[key] + raw_after[key]) / 2
    for result in results:
        summary = {
            "workers": result["workers"],
            "onnx_threads_per_worker": result["onnx_threads_per_worker"],
            "documents_per_hour": result["documents_per_hour"],
            "pipeline_chunks_per_second": result["chunks_per_second"],
            "raw_model_chunks_per_second": round(raw, 1),
            "pipeline_share_of_raw": round(result["chunks_per_second"] / raw, 3),
            "worker_cpu_ms_per_chunk": result["worker_cpu_ms_per_chunk"],
            "raw_model_cpu_ms_per_chunk_one_thread": round(raw_cpu, 1),
            # The same share by CPU time: a loaded machine slows the multi-threaded raw run far
            # more than the single-threaded workers, which makes the wall-time share meaningless.
            "pipeline_cpu_share_of_raw": round(raw_cpu / result["worker_cpu_ms_per_chunk"], 3),
        }
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
