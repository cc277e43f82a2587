"""The ``docrag`` command line.

With ``--url`` (or ``DOCRAG_URL``) and ``--key`` (or ``DOCRAG_API_KEY``), ``ingest``, ``ask``,
``search``, ``documents`` and ``collections`` work through a DocRAG server's API
(:mod:`docrag.cli.remote`, over :mod:`docrag.client`); without, on the local database (embedded or
``DOCRAG_DATABASE_URL``) in the default tenant (:mod:`docrag.cli.local`). ``serve``, ``worker``,
``migrate``, ``reindex``, ``keys``, ``users`` and ``eval`` are local only. Typed errors become the exit
statuses of :mod:`docrag.cli.exits`. Heavy imports happen inside commands so that ``docrag --help``
and shell completion stay instant.
"""

from __future__ import annotations

import sys

import typer

from docrag.cli import admin, backup, content, crypto, evals, exits, library, ops, subject, users

app = typer.Typer(
    help=(
        "DocRAG: answers from your documents, every sentence cited.\n\n"
        "With --url (DOCRAG_URL) and --key (DOCRAG_API_KEY), ingest, ask, search, documents and "
        "collections work through a DocRAG server; without, on the local database. serve, worker, "
        "migrate, reindex, keys, users and eval are local only."
    ),
    epilog=exits.EPILOG,
    no_args_is_help=True,
)
content.register(app)
library.register(app)
admin.register(app)
ops.register(app)
evals.register(app)
backup.register(app)
subject.register(app)
crypto.register(app)
users.register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the command; a typed error is printed as ``error [code]: message`` (no traceback) and
    exits with its status (0 ok, 1 error, 2 usage, 3 auth, 4 not found, 5 unavailable)."""
    from docrag.errors import DocRAGError

    try:
        app(args=argv, prog_name="docrag")
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        hint = exits.hint_for(exc)
        if hint:
            typer.echo(hint, err=True)
        sys.exit(exits.status_of(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(exits.INTERRUPTED)


if __name__ == "__main__":
    main()
