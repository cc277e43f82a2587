"""Local mode: the commands on the database itself (embedded, or DOCRAG_DATABASE_URL's), in the
default tenant, with no server. Each answer is turned into the API's model so that it prints the
same as in remote mode (:mod:`docrag.cli.remote`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import typer

from docrag.cli import exits, show

if TYPE_CHECKING:
    from docrag.api.schemas import CollectionOut, DocumentOut, SearchOut
    from docrag.services import Runtime


def ingest(rt: Runtime, files: list[Path], collection: str, wait: bool, concurrency: int | None) -> None:
    """Queue the files and, with ``wait``, run workers here until each is indexed or failed."""
    from tqdm import tqdm

    from docrag.jobs.bulk import BulkReport, enqueue_files, follow

    report = BulkReport()
    interrupted = False
    with tqdm(total=len(files), unit="file", file=sys.stderr, desc="ingested") as bar:
        target = rt.collection(rt.default_tenant, collection, create=True)
        workers = rt.worker(concurrency) if wait else None
        try:
            enqueue_files(rt.jobs, rt.ingestor, target, files, report, bar.update)
            for document_id in report.pending:
                _audit(rt, "document.uploaded", document_id, {"collection": collection, "outcome": "queued"})
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
        raise typer.Exit(exits.INTERRUPTED)
    if report.failures and not (report.new or report.existing or report.pending):
        raise typer.Exit(exits.ERROR)


def _audit(rt: Runtime, action: str, target: object, detail: dict[str, object] | None = None) -> None:
    """A change made here is in the audit log like one made over HTTP, by actor ``cli``."""
    from docrag.store.audit import CLI_ACTOR, AuditLog

    AuditLog(rt.store).record(rt.default_tenant, action, actor=CLI_ACTOR, target=str(target), detail=detail)


def ask(rt: Runtime, question: str, collections: Sequence[str], as_json: bool) -> None:
    from docrag.api.schemas import AskOut

    asked = AskOut.of(rt.asker.ask(rt.asker.prepare(rt.default_tenant, list(collections), question)))
    if as_json:
        typer.echo(asked.model_dump_json(indent=2))
    else:
        show.answer(asked)


class LocalLibrary:
    """Collections, documents and search on the local database, as the API answers them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tenant = rt.default_tenant

    def collections(self) -> list[CollectionOut]:
        from docrag.api.schemas import CollectionOut

        return [CollectionOut.model_validate(c) for c in self.rt.store.list_collections(self.tenant)]

    def create_collection(self, name: str) -> CollectionOut:
        from docrag.api.schemas import CollectionOut

        e = self.rt.embedder
        made = self.rt.store.create_collection(self.tenant, name, e.model_id, e.dim)
        _audit(self.rt, "collection.created", made.id, {"name": name})
        return CollectionOut.model_validate(made)

    def delete_collection(self, name: str) -> None:
        collection = self.rt.collection(self.tenant, name)
        self.rt.delete_collection(self.tenant, collection.id)
        _audit(self.rt, "collection.deleted", collection.id, {"name": name})

    def iter_documents(self, collection: str, page_size: int = 100) -> Iterator[DocumentOut]:
        from docrag.api.schemas import DocumentOut

        target = self.rt.collection(self.tenant, collection)
        offset = 0
        while True:
            page = self.rt.store.list_documents(self.tenant, target.id, limit=page_size, offset=offset)
            yield from (DocumentOut.model_validate(d) for d in page)
            if len(page) < page_size:
                return
            offset += len(page)

    def document(self, document_id: UUID) -> DocumentOut:
        from docrag.api.schemas import DocumentOut

        return DocumentOut.model_validate(self.rt.store.get_document(self.tenant, document_id))

    def delete_document(self, document_id: UUID) -> None:
        self.rt.delete_document(self.tenant, document_id)
        _audit(self.rt, "document.deleted", document_id)

    def search(self, query: str, collections: Sequence[str], limit: int) -> SearchOut:
        from docrag.api.schemas import HitOut, SearchOut

        ids = [self.rt.collection(self.tenant, name).id for name in collections]
        hits = self.rt.searcher.search(self.tenant, ids, query, limit=limit)
        return SearchOut(query=query, hits=[HitOut.model_validate(h) for h in hits])
