"""Local administration: ``docrag serve``, ``worker``, ``reindex`` and ``keys create``, on the
database itself (embedded, or DOCRAG_DATABASE_URL's), never through a server."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docrag.cli import common
from docrag.cli.common import DataDirOpt

if TYPE_CHECKING:
    from fastapi import FastAPI

keys_app = typer.Typer(help="API keys (local database: the keys a server accepts).", no_args_is_help=True)


PemOpt = Annotated[Path | None, typer.Option(help="HTTPS: PEM file (or DOCRAG_SSL_CERTFILE/_KEYFILE)")]


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default DOCRAG_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default DOCRAG_PORT or 8000)")] = None,
    data_dir: DataDirOpt = None,
    ssl_certfile: PemOpt = None,
    ssl_keyfile: PemOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="API processes on the port (default DOCRAG_SERVE_WORKERS or 1)"),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page (at /); HTTPS with a certificate.

    With several workers, each is a process with its own model, BM25 indexes, caches (unless
    DOCRAG_REDIS_URL) and in-process ingestion workers, over the one database: the request
    threads of one process share one interpreter lock, so on several cores more processes serve
    more searches."""
    import uvicorn

    from docrag.api.app import create_app
    from docrag.observability.logs import configure_logging

    tls = {k: v for k, v in (("ssl_certfile", ssl_certfile), ("ssl_keyfile", ssl_keyfile)) if v is not None}
    settings = common.settings(data_dir, **tls)
    if (settings.ssl_certfile is None) != (settings.ssl_keyfile is None):
        raise typer.BadParameter("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    configure_logging(settings.log_format)
    _open_files_to_hard_limit()
    _few_malloc_arenas()
    processes = workers or settings.serve_workers
    app: FastAPI | str = create_app(settings) if processes == 1 else "docrag.cli.admin:served_app"
    if processes > 1:
        # Worker processes read their settings from the environment: pass the data dir on. This
        # process opens the database once first, so migrations and the first start's admin key
        # happen once, not in a race between the workers.
        if data_dir is not None:
            os.environ["DOCRAG_DATA_DIR"] = str(data_dir)
        with common.runtime(data_dir) as rt:
            if rt.bootstrap_key:
                typer.echo(f"\nDocRAG created an admin API key for the default tenant: {rt.bootstrap_key}\n")
    uvicorn.run(
        app,
        factory=processes > 1,
        workers=processes,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # our handler (configure_logging) formats uvicorn's records too
        access_log=False,  # the middleware writes the access line (route template, no query)
        ssl_certfile=settings.ssl_certfile,
        ssl_keyfile=settings.ssl_keyfile,
        timeout_keep_alive=settings.keep_alive_seconds,
    )


def _open_files_to_hard_limit() -> None:
    """Raise this process's open-file limit (its worker processes inherit it) to the hard limit:
    kept-alive client connections are descriptors, and a soft limit of 1024, common on hosts,
    would refuse connections well before 1000 users (as Go's runtime does for its servers)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):  # a sandbox may forbid it: keep the soft one
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


#: glibc's M_ARENA_MAX (malloc.h): the most malloc arenas a process makes.
_M_ARENA_MAX = -8


def _few_malloc_arenas() -> None:
    """At most 2 malloc arenas in this process and the worker processes it starts (they read
    MALLOC_ARENA_MAX). glibc gives each thread that contends for one an arena of its own, up to 8
    per core, and an arena rarely hands freed memory back: a server's many request threads
    fragment them, and its RSS creeps up with no Python object behind it. The 30-minute soak of
    1000 users (bench/load/soak.py): RSS +55 MB/h with glibc's default (the traced Python heap
    grew by the cache's entries only), -25 MB/h with 2 arenas. The interpreter lock keeps the
    threads from contending much for fewer arenas."""
    import ctypes
    import ctypes.util

    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    name = ctypes.util.find_library("c")
    if name is None:  # not glibc: nothing to set
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).mallopt(_M_ARENA_MAX, int(os.environ["MALLOC_ARENA_MAX"]))


def served_app() -> FastAPI:
    """The app of each worker process of ``docrag serve --workers N`` (settings from the environment)."""
    from docrag.api.app import create_app
    from docrag.observability.logs import configure_logging

    settings = common.settings()
    configure_logging(settings.log_format)
    return create_app(settings)


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Worker threads (default DOCRAG_WORKER_CONCURRENCY or 1)")
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest queued uploads until SIGTERM or Ctrl-C (run any number, on any machine, on one database).

    The first signal finishes the jobs in hand, a second hands them back to the queue.
    """
    from docrag.errors import DocRAGError
    from docrag.observability.logs import configure_logging
    from docrag.observability.tracing import start_tracing
    from docrag.providers.protocol import warm_up_ingestion

    settings = common.settings(data_dir)
    configure_logging(settings.log_format)
    traces = start_tracing(settings)
    try:
        with common.runtime(data_dir) as rt:
            workers = rt.worker(concurrency)
            try:  # before any job, so that the first one does not wait for the model to load
                warm_up_ingestion(rt.ingestor.primary)
            except DocRAGError as exc:  # a remote model down: the jobs retry it, as they would
                typer.echo(f"model not warmed up ({exc.code}: {exc.message}); jobs will retry it", err=True)
            typer.echo(f"worker started: {', '.join(workers.worker_ids)}", err=True)
            workers.run_until_signalled()
    finally:
        if traces is not None:
            traces.close()
    done = ", ".join(f"{n} {outcome.value}" for outcome, n in sorted(workers.outcomes.items())) or "no jobs"
    by_time = sorted(workers.stage_seconds.items(), key=lambda item: -item[1])
    stages = ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in by_time)
    typer.echo(f"worker stopped: {done}; stages: {stages or 'none'}", err=True)


def reindex(
    collection: Annotated[str, typer.Argument(help="The collection to re-index")],
    data_dir: DataDirOpt = None,
    cancel: Annotated[bool, typer.Option("--cancel", help="Drop a re-index under way")] = False,
) -> None:
    """Re-embed a collection with the model configured here (DOCRAG_EMBEDDER), beside the served
    vectors; searches go on meanwhile, and the collection switches when every chunk is done.
    Interrupted, it resumes where it stopped when run again."""
    from docrag.jobs.reindex import Reindexer
    from docrag.store.reindex import ReindexStore

    with common.runtime(data_dir) as rt:
        target = rt.collection(rt.default_tenant, collection)
        reindexer = Reindexer(ReindexStore(rt.store), rt.embedder, rt.settings)
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


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key")] = "cli",
    role: Annotated[str, typer.Option(help="admin, editor or reader")] = "admin",
    tenant: Annotated[str, typer.Option(help="Tenant name (created if new)")] = "default",
    collections: Annotated[
        str | None, typer.Option(help="Comma-separated collections (existing) the key is scoped to")
    ] = None,
    expires_at: Annotated[
        datetime | None,
        typer.Option(help="When the key stops working, in UTC (2027-01-31 or 2027-01-31T12:00:00)"),
    ] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create an API key and print it (it is stored only as a hash)."""
    from docrag.store.audit import CLI_ACTOR, KEY_CREATED, AuditLog
    from docrag.store.keys import KeyStore

    if role not in ("admin", "editor", "reader"):
        common.fail("role must be admin, editor or reader")
    if expires_at is not None:
        expires_at = expires_at.replace(tzinfo=UTC)
    if expires_at is not None and expires_at <= datetime.now(UTC):
        common.fail("--expires-at must be in the future")
    with common.runtime(data_dir) as rt:
        tenant_id = rt.store.ensure_tenant(tenant)
        ids = None
        if collections is not None:
            names = [n.strip() for n in collections.split(",") if n.strip()]
            ids = [rt.store.collection_by_name(tenant_id, n).id for n in names]
        key, secret = KeyStore(rt.store).create(tenant_id, name, role, collections=ids, expires_at=expires_at)
        detail = {"name": name, "role": role, "collections": key.collections}
        AuditLog(rt.store).record(tenant_id, KEY_CREATED, actor=CLI_ACTOR, target=str(key.id), detail=detail)
    typer.echo(secret)


def register(root: typer.Typer) -> None:
    for command in (serve, worker, reindex):
        root.command()(command)
    root.add_typer(keys_app, name="keys")
