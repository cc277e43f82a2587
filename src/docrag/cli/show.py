"""How answers, passages, documents and collections are printed, the same in local and remote mode
(both hand over the API's models, :mod:`docrag.api.schemas`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from docrag.api.schemas import AskOut, CollectionOut, DocumentOut, HitOut


def answer(asked: AskOut) -> None:
    """Every sentence with its mark, then what each mark cites (or the closest passages)."""
    if not asked.answered:
        typer.echo(asked.answer)
        closest(asked)
        return
    for n, sentence in enumerate(asked.sentences, start=1):
        flag = " (unsupported by its citation)" if sentence.verdict == "unsupported" else ""
        typer.echo(f"{sentence.text} [{n}]{flag}")
    typer.echo("")
    citations(asked)


def citations(asked: AskOut, *, flags: bool = False) -> None:
    """``[n] title, page (document, chars a-b)`` for each citation of sentence n; with ``flags``
    (when the sentences were streamed without their marks), a sentence's verdict too."""
    for n, sentence in enumerate(asked.sentences, start=1):
        flag = " (unsupported by its citation)" if flags and sentence.verdict == "unsupported" else ""
        for c in sentence.citations:
            page = f", page {c.page}" if c.page else ""
            typer.echo(f"[{n}] {c.document_title}{page} ({c.document_id}, chars {c.start}-{c.end}){flag}")


def closest(asked: AskOut) -> None:
    for hit in asked.passages:
        page = f" (p. {hit.page_start})" if hit.page_start else ""
        typer.echo(f"  closest: {hit.document_title}{page}: {hit.text[:160]!r}")


def hit(found: HitOut) -> None:
    page = f" p.{found.page_start}" if found.page_start else ""
    typer.echo(f"{found.score:.3f}  {found.document_title}{page}: {' '.join(found.text.split())[:200]}")


def document_line(doc: DocumentOut) -> None:
    name = f" ({doc.filename})" if doc.filename and doc.filename != doc.title else ""
    failed = f" {doc.error_code}" if doc.status == "failed" else ""
    typer.echo(f"{doc.id}  {doc.status}{failed}  v{doc.version}  {doc.title}{name}")


def document(doc: DocumentOut) -> None:
    for field, value in doc.model_dump(mode="json", exclude={"duplicate"}).items():
        if value is not None:
            typer.echo(f"{field}: {value}")


def collection_line(found: CollectionOut) -> None:
    plural = "" if found.document_count == 1 else "s"
    typer.echo(f"{found.name}  {found.document_count} document{plural}  {found.embedding_model}")
