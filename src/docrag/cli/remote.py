"""Remote mode (``--url``/``DOCRAG_URL``): the commands through a DocRAG server's API, with
:mod:`docrag.client`. Errors are its typed ones, turned into exit statuses by :mod:`docrag.cli.exits`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import typer

from docrag.cli import exits, show

if TYPE_CHECKING:
    from docrag.api.schemas import CollectionOut, DocumentOut, SearchOut
    from docrag.client import Client


@dataclass
class Uploads:
    pending: dict[UUID, Path] = field(default_factory=dict)  # uploaded, not yet indexed or failed
    new: int = 0
    existing: int = 0
    failures: list[tuple[Path, str, str]] = field(default_factory=list)


def ingest(client: Client, files: list[Path], collection: str, wait: bool, timeout: float) -> None:
    """Upload each file (a byte progress bar), then with ``wait`` follow each until indexed or failed.

    A file the server refuses (type, size, empty...) is reported and the rest go on; a wrong key or
    a server that is down stops the command. Files already stored are not stored again."""
    report = Uploads()
    try:
        _upload_all(client, files, collection, report)
        if wait and report.pending:
            _follow(client, report, timeout)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the server goes on ingesting the {len(report.pending)} files uploaded")
        raise typer.Exit(exits.INTERRUPTED) from None
    if wait:
        typer.echo(f"{report.new} new, {report.existing} already stored, {len(report.failures)} failed")
    else:
        typer.echo(
            f"{len(report.pending)} queued, {report.existing} already stored, {len(report.failures)} failed"
            " (not waiting: the server ingests them)"
        )
    for path, code, message in report.failures:
        typer.echo(f"  failed {path}: {code}: {message}")
    if report.pending and wait:
        typer.echo(f"{len(report.pending)} files still being ingested after {timeout:.0f}s", err=True)
        raise typer.Exit(exits.ERROR)
    if report.failures and not (report.new or report.existing or report.pending):
        raise typer.Exit(exits.ERROR)


def _upload_all(client: Client, files: list[Path], collection: str, report: Uploads) -> None:
    from tqdm import tqdm

    from docrag.errors import BadInput

    total = sum(path.stat().st_size for path in files)
    with tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, desc="uploaded") as bar:
        for path in files:
            done = 0

            def progress(sent: int, _total: int) -> None:
                nonlocal done
                bar.update(sent - done)
                done = sent

            try:
                doc = client.upload(collection, path, progress=progress)
            except BadInput as exc:  # this file's fault: report it, go on with the others
                report.failures.append((path, exc.code, exc.message))
                bar.update(path.stat().st_size - done)
                continue
            if doc.duplicate:
                report.existing += 1
            elif doc.status == "failed":
                report.failures.append((path, doc.error_code or "failed", doc.error_message or ""))
            elif doc.status == "indexed":
                report.new += 1
            else:
                report.pending[doc.id] = path


def _follow(client: Client, report: Uploads, timeout: float) -> None:
    from tqdm import tqdm

    deadline = time.monotonic() + timeout
    with tqdm(total=len(report.pending), unit="file", file=sys.stderr, desc="indexed") as bar:
        while report.pending and time.monotonic() < deadline:
            for document_id, path in list(report.pending.items()):
                doc = client.document(document_id)
                if doc.status == "indexed":
                    report.new += 1
                elif doc.status == "failed":
                    report.failures.append((path, doc.error_code or "failed", doc.error_message or ""))
                else:
                    continue
                del report.pending[document_id]
                bar.update(1)
            if report.pending:
                time.sleep(0.25)


def ask(client: Client, question: str, collections: Sequence[str], as_json: bool) -> None:
    """The answer printed as the server writes it, then what each sentence cites."""
    from docrag.client import Answered, TokenText

    if as_json:
        typer.echo(client.ask(question, collections=collections).model_dump_json(indent=2))
        return
    streamed = False
    try:
        for event in client.ask_stream(question, collections=collections):
            if isinstance(event, TokenText):
                sys.stdout.write(event.text)
                sys.stdout.flush()
                streamed = streamed or bool(event.text.strip())
            elif isinstance(event, Answered):
                if not streamed:
                    sys.stdout.write(event.answer.answer)
                typer.echo("")
                if event.answer.answered:
                    typer.echo("")
                    show.citations(event.answer, flags=True)
                else:
                    show.closest(event.answer)
    except BaseException:
        if streamed:  # end the half-written answer's line before the error is printed
            typer.echo("")
        raise


class RemoteLibrary:
    """Collections, documents and search through the server (the same methods as LocalLibrary)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def collections(self) -> list[CollectionOut]:
        return self.client.collections()

    def create_collection(self, name: str) -> CollectionOut:
        return self.client.create_collection(name)

    def delete_collection(self, name: str) -> None:
        self.client.delete_collection(name)

    def iter_documents(self, collection: str, page_size: int = 100) -> Iterator[DocumentOut]:
        return self.client.iter_documents(collection, page_size=page_size)

    def document(self, document_id: UUID) -> DocumentOut:
        return self.client.document(document_id)

    def delete_document(self, document_id: UUID) -> None:
        self.client.delete_document(document_id)

    def search(self, query: str, collections: Sequence[str], limit: int) -> SearchOut:
        return self.client.search(query, collections=collections, limit=limit)
