"""The ``docrag`` command line: serve, ingest, worker, ask, search, keys and eval.

Commands other than ``serve`` work directly on the database (embedded or
``DOCRAG_DATABASE_URL``) in the default tenant; heavy imports happen inside commands so
``docrag --help`` stays instant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docrag.cli.backup import register as register_backup_commands
from docrag.cli.ops import register as register_ops_commands

if TYPE_CHECKING:
    from docrag.services import Runtime
    from docrag.settings import Settings

app = typer.Typer(help="DocRAG: answers from your documents, every sentence cited.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
eval_app = typer.Typer(help="Quality evaluations on public data sets.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(eval_app, name="eval")
register_ops_commands(app)
register_backup_commands(app)

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    from docrag.settings import Settings

    settings = Settings()
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return settings.model_copy(update=overrides) if overrides else settings


@contextmanager
def _runtime(data_dir: Path | None = None, **overrides: object) -> Iterator[Runtime]:
    from docrag.errors import DocRAGError
    from docrag.services import Runtime

    settings = _settings(data_dir, **overrides)
    try:
        runtime = Runtime.open(settings)
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    try:
        if runtime.bootstrap_key:
            typer.echo(
                f"Created the admin API key for the default tenant (shown once): {runtime.bootstrap_key}"
            )
        yield runtime
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    finally:
        runtime.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default DOCRAG_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOCRAG_PORT or 8000)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page (at /)."""
    import uvicorn

    from docrag.api.app import create_app
    from docrag.observability.logs import configure_logging

    settings = _settings(data_dir)
    configure_logging(settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # our handler (configure_logging) formats uvicorn's records too
        access_log=False,  # the middleware writes the access line (route template, no query)
    )


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            typer.echo(f"error: no such file or folder: {path}", err=True)
            raise typer.Exit(2)
    return found


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders")],
    collection: CollectionOpt = "default",
    data_dir: DataDirOpt = None,
    wait: Annotated[bool, typer.Option(help="Run workers here until every file is indexed or failed")] = True,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Worker threads while waiting")] = None,
) -> None:
    """Queue files (folders recursively) for ingestion and, by default, ingest them here.

    Files already stored (or queued) are not queued again: after Ctrl-C, run the same command to
    resume. With --no-wait, `docrag worker` or `docrag serve` ingests them.
    """
    from tqdm import tqdm

    from docrag.jobs.bulk import BulkReport, enqueue_files, follow

    files = _files(paths)
    report = BulkReport()
    interrupted = False
    with (
        _runtime(data_dir) as rt,
        tqdm(total=len(files), unit="file", file=sys.stderr, desc="ingested") as bar,
    ):
        target = rt.collection(rt.default_tenant, collection, create=True)
        workers = rt.worker(concurrency) if wait else None
        try:
            enqueue_files(rt.jobs, rt.ingestor, target, files, report, bar.update)
            if workers is not None and report.pending:
                workers.start()
                follow(rt.jobs, rt.default_tenant, report, bar.update)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if workers is not None:
                # On Ctrl-C the jobs in hand go back to the queue, where a re-run finds them.
                workers.stop(hand_back=interrupted)
                workers.join()
    if wait:
        typer.echo(f"{report.new} new, {report.existing} already stored, {len(report.failures)} failed")
    else:
        typer.echo(
            f"{len(report.pending)} queued, {report.existing} already stored, {len(report.failures)} failed"
            " (not waiting: `docrag worker` or `docrag serve` ingests the queue)"
        )
    for path, code, message in report.failures:
        typer.echo(f"  failed {path}: {code}: {message}")
    if interrupted:
        typer.echo(f"interrupted: {len(report.pending)} files still queued; run the same command to resume")
        raise typer.Exit(130)
    if report.failures and not (report.new or report.existing or report.pending):
        raise typer.Exit(1)


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Worker threads (default DOCRAG_WORKER_CONCURRENCY or 1)")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest queued uploads until SIGTERM or Ctrl-C (run any number, on any machine, on one database).

    The first signal finishes the jobs in hand, a second hands them back to the queue.
    """
    from docrag.observability.logs import configure_logging

    configure_logging(_settings(data_dir).log_format)
    with _runtime(data_dir) as rt:
        workers = rt.worker(concurrency)
        typer.echo(f"worker started: {', '.join(workers.worker_ids)}", err=True)
        workers.run_until_signalled()
    done = ", ".join(f"{n} {outcome.value}" for outcome, n in sorted(workers.outcomes.items())) or "no jobs"
    by_time = sorted(workers.stage_seconds.items(), key=lambda item: -item[1])
    stages = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in by_time)
    typer.echo(f"worker stopped: {done}; stages: {stages or 'none'}", err=True)


@app.command()
def reindex(
    collection: Annotated[str, typer.Argument(help="The collection to re-index")],
    data_dir: DataDirOpt = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Drop a re-index under way")] = False,
) -> None:
    """Re-embed a collection with the model configured here (DOCRAG_EMBEDDER), beside the served
    vectors; searches go on meanwhile, and the collection switches when every chunk is done.
    Interrupted, it resumes where it stopped when run again."""
    from docrag.jobs.reindex import Reindexer

    with _runtime(data_dir) as rt:
        target = rt.collection(rt.default_tenant, collection)
        reindexer = Reindexer(rt.store, rt.embedder, rt.settings)
        if cancel:
            reindexer.cancel(target)
            typer.echo(f"re-index of {collection!r} cancelled; it still serves {target.embedding_model}")
            return

        def progress(done: int, missing: int) -> None:
            if missing > 0:
                typer.echo(f"{missing} chunks were added meanwhile: another pass", err=True)
            elif done % 512 < rt.settings.embed_batch_size or done < 64:
                typer.echo(f"{done} chunks embedded", err=True)

        report = reindexer.run(target, progress)
        rt.collection_changed(target.id)
    typer.echo(f"{collection!r} now serves {report.model} ({report.embedded} chunks embedded)")


@app.command()
def ask(
    question: str,
    collection: CollectionOpt = "default",
    data_dir: DataDirOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON")] = False,
) -> None:
    """Answer a question from the collection, citing every sentence."""
    from docrag.api.schemas import AskOut

    with _runtime(data_dir) as rt:
        asked = rt.asker.ask(rt.asker.prepare(rt.default_tenant, [collection], question))
    answer = asked.answer
    if as_json:
        typer.echo(AskOut.of(asked).model_dump_json(indent=2))
        return
    if not answer.answered:
        typer.echo(answer.text)
        for hit in answer.passages:
            typer.echo(f"  closest: {hit.document_title} (p. {hit.page_start}): {hit.body[:160]!r}")
        return
    for n, sentence in enumerate(answer.sentences, start=1):
        flag = " (unsupported by its citation)" if sentence.supported is False else ""
        typer.echo(f"{sentence.text} [{n}]{flag}")
    typer.echo("")
    for n, sentence in enumerate(answer.sentences, start=1):
        for c in sentence.citations:
            page = f", page {c.page}" if c.page else ""
            typer.echo(f"[{n}] {c.document_title}{page} ({c.document_id}, chars {c.start}-{c.end})")


@app.command()
def search(
    query: str,
    collection: CollectionOpt = "default",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    data_dir: DataDirOpt = None,
) -> None:
    """Hybrid search: the best-matching passages."""
    with _runtime(data_dir) as rt:
        target = rt.collection(rt.default_tenant, collection)
        hits = rt.retriever.search(rt.default_tenant, [target.id], query, limit=limit)
    for hit in hits:
        page = f" p.{hit.page_start}" if hit.page_start else ""
        typer.echo(f"{hit.score:.3f}  {hit.document_title}{page}: {' '.join(hit.body.split())[:200]}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key")] = "cli",
    role: Annotated[str, typer.Option(help="admin, editor or reader")] = "admin",
    tenant: Annotated[str, typer.Option(help="Tenant name (created if new)")] = "default",
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key and print it (it is stored only as a hash)."""
    from docrag.services import new_api_key

    if role not in ("admin", "editor", "reader"):
        typer.echo("error: role must be admin, editor or reader", err=True)
        raise typer.Exit(2)
    with _runtime(data_dir) as rt:
        key = new_api_key()
        rt.store.add_api_key(rt.store.ensure_tenant(tenant), name, key, role)
    typer.echo(key)


@eval_app.command("retrieval")
def eval_retrieval(
    data: Annotated[Path, typer.Option("--data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")],
    split: Annotated[str, typer.Option(help="qrels file name without .tsv")] = "test",
    collection: Annotated[str | None, typer.Option(help="Collection (default: eval-<folder>)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest a BEIR set through the real pipeline, then print nDCG@10, recall@100 and MRR@10."""
    from docrag.eval.beir import run_beir

    with _runtime(data_dir) as rt:
        report = run_beir(rt, data, split=split, collection=collection or f"eval-{data.name}")
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("chunking")
def eval_chunking(
    data: Annotated[Path, typer.Option("--data", help="SQuAD-format JSON file or folder holding one")],
    chunking: Annotated[str, typer.Option(help="semantic, structural or fixed")] = "semantic",
    collection: Annotated[str | None, typer.Option(help="Collection (default: eval-chunking-<mode>)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest each article as one run-together document; print hit@1, hit@5 and MRR@10 of the
    chunk holding the gold answer."""
    from docrag.eval.xquad import run_chunking

    if chunking not in ("semantic", "structural", "fixed"):
        typer.echo("error: --chunking must be semantic, structural or fixed", err=True)
        raise typer.Exit(2)
    path = _squad_file(data)
    with _runtime(data_dir, chunking=chunking) as rt:
        report = run_chunking(rt, path, collection=collection or f"eval-chunking-{chunking}")
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("qa")
def eval_qa(
    data: Annotated[Path, typer.Option("--data", help="SQuAD-format JSON file or folder holding one")],
    sentences: Annotated[int, typer.Option(help="Answer sentences")] = 2,
    collection: Annotated[str, typer.Option(help="Collection name")] = "eval-qa",
    data_dir: DataDirOpt = None,
) -> None:
    """Ask every question over the HTTP API; print answer containment, F1 and the abstention
    trade-off against a collection missing half the articles."""
    from docrag.api.app import create_app
    from docrag.eval.qa import run_qa

    path = _squad_file(data)
    with _runtime(data_dir, abstain_threshold=0.0, answer_sentences=sentences) as rt:
        report = run_qa(rt, create_app(rt.settings, runtime=rt), path, collection=collection)
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("groundedness")
def eval_groundedness(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="SummEdits folder (summedits_*.json) or WiCE folder; repeatable"),
    ],
    wice_split: Annotated[str, typer.Option(help="WiCE claim split to score")] = "test",
    cache: Annotated[Path | None, typer.Option(help="Folder caching feature rows between runs")] = None,
    judge: Annotated[
        str, typer.Option(help="detector, or llm: also the DOCRAG_GENERATOR model as a judge")
    ] = "detector",
    limit: Annotated[int | None, typer.Option(help="Score at most this many claims per domain")] = None,
) -> None:
    """Groundedness detector: SummEdits balanced accuracy on held-out domains (leave-one-domain-out)
    and WiCE balanced accuracy of the shipped weights (never tuned on WiCE)."""
    from docrag.errors import DocRAGError, InvalidRequest
    from docrag.groundedness.evaluation import run_groundedness
    from docrag.groundedness.judge import LLMJudge
    from docrag.providers.generators import build_generator
    from docrag.providers.minilm_onnx import MiniLMEmbedder
    from docrag.settings import Settings

    try:
        if judge not in ("detector", "llm"):
            raise InvalidRequest(f"--judge must be detector or llm, not {judge!r}")
        if limit is not None and limit < 1:
            raise InvalidRequest("--limit must be at least 1")
        llm = None
        if judge == "llm":
            generator = build_generator(Settings(groundedness_judge="llm"))
            assert generator is not None  # build_generator refuses a judge without a model
            llm = LLMJudge(generator)
        report = run_groundedness(
            MiniLMEmbedder(), data, wice_split=wice_split, cache=cache, judge=llm, limit=limit
        )
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report, indent=2))


def _squad_file(data: Path) -> Path:
    if data.is_dir():
        found = sorted(data.glob("*.json"))
        if not found:
            typer.echo(f"error: no .json file in {data}", err=True)
            raise typer.Exit(2)
        return found[0]
    return data


def main() -> None:
    app()


if __name__ == "__main__":
    main()
