"""``docrag documents`` (list, show, delete) and ``docrag collections`` (list, create, delete),
on a server with ``--url``, else on the local database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol
from uuid import UUID

import typer

from docrag.cli import common, show
from docrag.cli.common import CollectionOpt, DataDirOpt, JsonOpt, KeyOpt, UrlOpt

if TYPE_CHECKING:
    from docrag.api.schemas import CollectionOut, DocumentOut, SearchOut


class Library(Protocol):
    def collections(self) -> list[CollectionOut]: ...
    def create_collection(self, name: str) -> CollectionOut: ...
    def delete_collection(self, name: str) -> None: ...
    def iter_documents(self, collection: str, page_size: int = 100) -> Iterator[DocumentOut]: ...
    def document(self, document_id: UUID) -> DocumentOut: ...
    def delete_document(self, document_id: UUID) -> None: ...
    def search(self, query: str, collections: Sequence[str], limit: int) -> SearchOut: ...


@contextmanager
def library(url: str | None, key: str | None, data_dir: Path | None) -> Iterator[Library]:
    """The server's library with ``url``, else the local database's."""
    if url:
        from docrag.cli.remote import RemoteLibrary

        with common.client(url, key) as client:
            yield RemoteLibrary(client)
        return
    from docrag.cli.local import LocalLibrary

    with common.runtime(data_dir) as rt:
        yield LocalLibrary(rt)


documents_app = typer.Typer(help="Documents: list, show, delete.", no_args_is_help=True)
collections_app = typer.Typer(help="Collections: list, create, delete.", no_args_is_help=True)
DocumentArg = Annotated[UUID, typer.Argument(help="The document's id (from `docrag documents list`)")]
NameArg = Annotated[str, typer.Argument(help="Collection name")]


@documents_app.command("list")
def documents_list(
    collection: CollectionOpt = "default",
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The collection's documents: id, status, version served, title."""
    with library(url, key, data_dir) as lib:
        for doc in lib.iter_documents(collection):
            if as_json:
                typer.echo(doc.model_dump_json())
            else:
                show.document_line(doc)


@documents_app.command("show")
def documents_show(
    document: DocumentArg,
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One document's details (its ingestion status and progress, or why it failed)."""
    with library(url, key, data_dir) as lib:
        found = lib.document(document)
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
    else:
        show.document(found)


@documents_app.command("delete")
def documents_delete(
    document: DocumentArg, url: UrlOpt = None, key: KeyOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Delete a document with its passages; answers no longer cite it."""
    with library(url, key, data_dir) as lib:
        lib.delete_document(document)
    typer.echo(f"deleted document {document}")


@collections_app.command("list")
def collections_list(
    url: UrlOpt = None, key: KeyOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False
) -> None:
    """Every collection: name, documents, embedding model."""
    with library(url, key, data_dir) as lib:
        for found in lib.collections():
            if as_json:
                typer.echo(found.model_dump_json())
            else:
                show.collection_line(found)


@collections_app.command("create")
def collections_create(
    name: NameArg, url: UrlOpt = None, key: KeyOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Create an empty collection (`docrag ingest` also creates one on its first file)."""
    common.valid_collection_name(name)
    with library(url, key, data_dir) as lib:
        lib.create_collection(name)
    typer.echo(f"created collection {name}")


@collections_app.command("delete")
def collections_delete(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    url: UrlOpt = None,
    key: KeyOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete a collection with all its documents (admin keys only, with --url)."""
    if not yes:
        typer.confirm(f"Delete collection {name!r} and all its documents?", abort=True)
    with library(url, key, data_dir) as lib:
        lib.delete_collection(name)
    typer.echo(f"deleted collection {name}")


def register(app: typer.Typer) -> None:
    app.add_typer(documents_app, name="documents")
    app.add_typer(collections_app, name="collections")
