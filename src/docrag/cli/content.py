"""``docrag ingest``, ``ask`` and ``search``: on a server with ``--url`` (:mod:`docrag.cli.remote`),
else on the local database (:mod:`docrag.cli.local`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docrag.cli import common, show
from docrag.cli.common import CollectionOpt, CollectionsOpt, DataDirOpt, JsonOpt, KeyOpt, UrlOpt
from docrag.cli.library import library


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders")],
    collection: CollectionOpt = "default",
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
    wait: Annotated[
        bool, typer.Option(help="Wait until every file is indexed or failed (locally: run workers here)")
    ] = True,
    timeout: Annotated[float, typer.Option(min=1, help="With --url: the longest wait, in seconds")] = 600,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Local worker threads while waiting")] = None,
) -> None:
    """Ingest files (folders recursively) into a collection, created if new.

    Files already stored (or queued) are not stored again: after Ctrl-C, run the same command to
    resume. With --url the server ingests them (the upload shows its progress); locally, with
    --no-wait, `docrag worker` or `docrag serve` ingests them.
    """
    files = common.files(paths)
    common.valid_collection_name(collection)
    if url:
        from docrag.cli import remote

        with common.client(url, key) as client:
            remote.ingest(client, files, collection, wait, timeout)
        return
    from docrag.cli import local

    with common.runtime(data_dir) as rt:
        local.ingest(rt, files, collection, wait, concurrency)


def ask(
    question: str,
    collection: CollectionsOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the collections, citing every sentence (with --url: streamed as written)."""
    collections = collection or ["default"]
    if url:
        from docrag.cli import remote

        with common.client(url, key) as client:
            remote.ask(client, question, collections, as_json)
        return
    from docrag.cli import local

    with common.runtime(data_dir) as rt:
        local.ask(rt, question, collections, as_json)


def search(
    query: str,
    collection: CollectionsOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid search: the best-matching passages, best first."""
    with library(url, key, data_dir) as lib:
        found = lib.search(query, collection or ["default"], limit)
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    for hit in found.hits:
        show.hit(hit)


def register(app: typer.Typer) -> None:
    for command in (ingest, ask, search):
        app.command()(command)
