"""What the commands share: their options, the local runtime, the server client, the file list."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from docrag.cli import exits

if TYPE_CHECKING:
    from docrag.client import Client
    from docrag.services import Runtime
    from docrag.settings import Settings

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name")]
CollectionsOpt = Annotated[
    list[str] | None, typer.Option("--collection", "-c", help="Collection name; repeat for several")
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded PostgreSQL folder (default ./data)")
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="DOCRAG_URL",
        show_envvar=True,
        help="A DocRAG server (http://host:8000): work through its API instead of the local database",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", envvar="DOCRAG_API_KEY", show_envvar=True, help="API key for --url"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON")]


def fail(message: str, status: int = exits.USAGE) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    from docrag.settings import Settings

    found = Settings()
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return found.model_copy(update=overrides) if overrides else found


@contextmanager
def runtime(data_dir: Path | None = None, **overrides: object) -> Iterator[Runtime]:
    """The local runtime (embedded database or DOCRAG_DATABASE_URL); typed errors propagate to
    :func:`docrag.cli.main.main`, which prints them and exits with their status."""
    from docrag.services import Runtime

    rt = Runtime.open(settings(data_dir, **overrides))
    try:
        if rt.bootstrap_key:
            typer.echo(f"Created the admin API key for the default tenant (shown once): {rt.bootstrap_key}")
        yield rt
    finally:
        rt.close()


@contextmanager
def client(url: str, key: str | None) -> Iterator[Client]:
    """The server's client. Connections refused are tried twice more, briefly, so a server that is
    down fails within a second; 429/503 are tried again after their Retry-After."""
    from docrag.client import Client, RetryPolicy

    if not url.startswith(("http://", "https://")):
        fail(f"--url must start with http:// or https://, not {url!r}")
    with Client(url, key, retry=RetryPolicy(attempts=3, backoff=0.25)) as found:
        yield found


def files(paths: list[Path]) -> list[Path]:
    """The files named, folders recursively (hidden files skipped), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            fail(f"no such file or folder: {path}")
    return found


def valid_collection_name(name: str) -> str:
    import re

    from docrag.api.schemas import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        fail(f"a collection name is letters, digits, '_', '.', '-' (up to 100), not {name!r}")
    return name
